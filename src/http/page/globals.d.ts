// Stylesheets are bundled by esbuild; to the type checker they are plain modules.
declare module '*.css';

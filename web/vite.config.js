import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// The SPA must run on http://localhost:5173: that origin is registered as a
// callback / web origin with the issuer and allowed by the API's CORS.
export default defineConfig({
  plugins: [react()],
  server: { port: 5173, strictPort: true },
  preview: { port: 5173, strictPort: true },
});

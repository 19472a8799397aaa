/// <reference types="vitest/config" />
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// The gateway serves web/dist; in development Vite proxies the API to it.
const gateway = process.env.TAPMASK_GATEWAY_URL ?? "http://localhost:8000";

export default defineConfig({
  plugins: [react()],
  server: {
    proxy: {
      // SSE goes through this proxy too; http-proxy streams it unbuffered.
      "/api": { target: gateway, changeOrigin: true },
    },
  },
  preview: {
    proxy: {
      "/api": { target: gateway, changeOrigin: true },
    },
  },
  build: {
    outDir: "dist",
    emptyOutDir: true,
  },
  test: {
    environment: "node",
    include: ["src/**/*.test.ts", "src/**/*.test.tsx"],
  },
});

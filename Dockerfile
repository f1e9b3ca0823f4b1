# Attest for production: the service only; PostgreSQL comes from DATABASE_URL (see docker-compose.yml).
FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    PORT=3000 \
    NPM_CONFIG_UPDATE_NOTIFIER=false
WORKDIR /app
COPY package.json package-lock.json ./
# Dev dependencies (jest, playwright-core, @forge/manifest) are not needed to run the service.
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY atlassian-connect.json tsconfig.json ./
COPY bin ./bin
COPY migrations ./migrations
COPY public ./public
COPY src ./src
COPY views ./views
USER node
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# tsx runs the TypeScript directly: no build step to forget. SIGTERM reaches node (exec form).
CMD ["node", "--import", "tsx", "src/server.ts"]

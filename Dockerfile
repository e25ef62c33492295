# Kortex: one image for the gateway (the default command) and the controller.
#   docker build -t kortex:0.1.0 .
#   docker run --read-only -p 8080:8080 -v "$PWD/kortex.yaml:/etc/kortex/kortex.yaml:ro" kortex:0.1.0 --config /etc/kortex/kortex.yaml
#   docker run --read-only kortex:0.1.0 controller      (the Kubernetes controller, port 8081)
# The image holds the package as npm would install it: the built dist/ and
# production dependencies only, owned by root and run by an unprivileged user;
# nothing is written at run time. test/ship/package.test.ts follows these
# steps without Docker.

FROM node:20-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY . .
# npm pack builds dist/ first (prepack) and packs what the package ships.
RUN npm pack --pack-destination /tmp \
 && mkdir /pkg && tar -xzf /tmp/kortex-gateway-*.tgz -C /pkg --strip-components=1 \
 && cp package-lock.json /pkg/

FROM node:20-slim
ENV NODE_ENV=production HOST=0.0.0.0
WORKDIR /app
COPY --from=build /pkg ./
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts && npm cache clean --force
USER 10001:10001
EXPOSE 8080 8081
# /healthz on PORT, else on the gateway's or the controller's default port (whichever this container runs).
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s CMD ["node", "-e", "const p = process.env.PORT ? [process.env.PORT] : [8080, 8081]; Promise.any(p.map((n) => fetch(`http://127.0.0.1:${n}/healthz`).then((r) => r.ok || Promise.reject()))).then(() => process.exit(0), () => process.exit(1))"]
# The Node flags `npm start` uses (docs/benchmark.md says what each is for).
ENTRYPOINT ["node", "--max-semi-space-size=8", "--heap-growing-percent=50", "--no-allocation-site-pretenuring", "--no-wasm-loop-unrolling", "/app/bin/kortex.js"]

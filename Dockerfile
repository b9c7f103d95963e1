# A container image of nsgi-gateway serving one app library (docs/deploy-scale.md §4).
#
#   docker build -t myapp:1 .
#   docker run --rm -p 8000:8000 myapp:1
#
# Stage 1 builds the gateway and the app with cargo; stage 2 is a slim Debian with the two
# files and an unprivileged user, and no Rust toolchain. Replace `-p hello` / libhello.so with
# your app's package and library.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p nsgi-gateway -p hello \
 && mkdir -p /out \
 && cp target/release/nsgi-gateway /out/ \
 && cp target/release/libhello.so /out/libapp.so

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin nsgi
COPY --from=build /out/nsgi-gateway /usr/local/bin/nsgi-gateway
COPY --from=build /out/libapp.so /opt/app/lib/libapp.so
USER 10001:10001
EXPOSE 8000
# SIGTERM (docker stop, Kubernetes) is the gateway's graceful stop: in-flight requests finish
# within --graceful-timeout. Keep that below the orchestrator's grace period (deploy/kubernetes.yaml).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/nsgi-gateway"]
# Inside the container: all interfaces; X-Forwarded-* trusted from the pod/bridge networks only.
CMD ["--bind", "0.0.0.0:8000", "--graceful-timeout", "20", \
     "--forwarded-allow-ips", "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16", \
     "/opt/app/lib/libapp.so"]

# Offline stand-in for redis:7.4-alpine: Debian bookworm's Redis 7.0, run as `redis` in /data (the
# compose volume, where the append-only file goes).
#
#     docker build --network host -f docker/offline/redis.Dockerfile \
#         --build-arg DEBIAN_IMAGE=pentathlon/debian:bookworm -t pentathlon/redis:7.0-bookworm docker/offline

ARG DEBIAN_IMAGE=debian:bookworm-slim
FROM ${DEBIAN_IMAGE}

ENV DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8
RUN apt-get update \
    && apt-get install -y --no-install-recommends redis-server \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /data && chown redis:redis /data
COPY redis-entrypoint.sh /usr/local/bin/redis-entrypoint.sh
WORKDIR /data
USER redis
EXPOSE 6379
ENTRYPOINT ["/usr/local/bin/redis-entrypoint.sh"]
CMD ["redis-server"]

# Offline stand-in for postgres:17-alpine: Debian bookworm's PostgreSQL 15 with an entry point that
# honours the same POSTGRES_USER, POSTGRES_PASSWORD and POSTGRES_DB on first start, and keeps its
# cluster in /var/lib/postgresql/data (the compose volume).
#
#     docker build --network host -f docker/offline/postgres.Dockerfile \
#         --build-arg DEBIAN_IMAGE=pentathlon/debian:bookworm -t pentathlon/postgres:15-bookworm docker/offline

ARG DEBIAN_IMAGE=debian:bookworm-slim
FROM ${DEBIAN_IMAGE}

ENV DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8
# No cluster from the package: the entry point creates one in the volume on first start.
RUN mkdir -p /etc/postgresql-common/createcluster.d \
    && echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/no-main.conf \
    && apt-get update \
    && apt-get install -y --no-install-recommends postgresql-15 \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /var/lib/postgresql/data /var/run/postgresql \
    && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql \
    && chmod 0700 /var/lib/postgresql/data

ENV PATH=/usr/lib/postgresql/15/bin:$PATH \
    PGDATA=/var/lib/postgresql/data
COPY postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint.sh
USER postgres
# SIGINT is PostgreSQL's fast shutdown (SIGTERM would wait for every client to disconnect).
STOPSIGNAL SIGINT
EXPOSE 5432
ENTRYPOINT ["/usr/local/bin/postgres-entrypoint.sh"]
CMD ["postgres"]

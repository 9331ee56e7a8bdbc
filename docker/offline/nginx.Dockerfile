# The site's buffering reverse proxy: Debian bookworm's nginx in front of gunicorn (service `proxy` in
# docker/compose.yml; settings in docs/deploying.md, "The buffering proxy"). Built from Debian's
# packages, online on debian:bookworm-slim (`dc build`) or offline on the debootstrapped base:
#
#     docker build --network host -f docker/offline/nginx.Dockerfile \
#         --build-arg DEBIAN_IMAGE=pentathlon/debian:bookworm -t pentathlon/proxy:bookworm docker/offline
#
# Runs as www-data on port 8080; nginx.conf.template is filled in from the environment at start.

ARG DEBIAN_IMAGE=debian:bookworm-slim
FROM ${DEBIAN_IMAGE}

ENV DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8
# gettext-base: envsubst, which fills in the template.
RUN apt-get update \
    && apt-get install -y --no-install-recommends nginx gettext-base \
    && rm -rf /var/lib/apt/lists/* /etc/nginx/sites-enabled/* \
    && mkdir -p /var/cache/pentathlon-proxy \
    && chown www-data:www-data /var/cache/pentathlon-proxy
COPY nginx.conf.template /etc/pentathlon-proxy/nginx.conf.template
COPY nginx-entrypoint.sh /usr/local/bin/nginx-entrypoint.sh
# Request bodies and responses larger than the memory buffers are spooled here (a compose volume).
VOLUME /var/cache/pentathlon-proxy
USER www-data
# SIGQUIT: nginx's graceful shutdown (finishes the requests in flight).
STOPSIGNAL SIGQUIT
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/nginx-entrypoint.sh"]
CMD ["nginx", "-e", "stderr", "-g", "daemon off;"]

# Offline stand-in for python:3.11-slim-bookworm: Debian bookworm's own Python 3.11 on a base image
# made locally with debootstrap (see docs/deploying.md, "Building without a registry").
#
#     docker build --network host -f docker/offline/python.Dockerfile \
#         --build-arg DEBIAN_IMAGE=pentathlon/debian:bookworm -t pentathlon/python:3.11-bookworm docker/offline

ARG DEBIAN_IMAGE=debian:bookworm-slim
FROM ${DEBIAN_IMAGE}

ENV DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && ln -s /usr/bin/python3 /usr/local/bin/python
CMD ["python3"]

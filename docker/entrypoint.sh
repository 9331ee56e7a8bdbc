#!/bin/sh
# Entry point of the Pentathlon images: prepare the data folders, then run the given command
# (gunicorn, a celery worker, celery beat or any `python manage.py ...`). exec replaces the shell,
# so signals (SIGTERM starts a warm shutdown) reach that process directly.
set -eu

data="${PENTATHLON_VAR_DIR:-/data}"
# A bind mount or a volume created outside compose may be empty or owned by someone else. A fresh
# volume has none of these, and Django's checks refuse a FILE_UPLOAD_TEMP_DIR that does not exist.
for dir in "$data" "${DJANGO_MEDIA_ROOT:-$data/media}" "${PENTATHLON_PRIVATE_ROOT:-$data/private}" "$data/beat" \
           "${PENTATHLON_UPLOAD_TEMP_DIR:-$data/spool}" "${PENTATHLON_UPLOAD_PARTIAL_DIR:-$data/uploads}"; do
    if ! mkdir -p "$dir" 2>/dev/null || [ ! -w "$dir" ]; then
        echo "entrypoint: $dir is not writable by uid $(id -u); chown it to 10001:10001" >&2
        exit 1
    fi
done

if [ "$#" -eq 0 ]; then
    set -- gunicorn --config /app/docker/gunicorn.conf.py config.wsgi:application
fi
exec "$@"

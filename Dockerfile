# syntax=docker/dockerfile:1
# One image for the jobwarden operator and its workers (the worker SDK and the built-in
# export worker, `python -m jobwarden.worker.export`):
#
#   docker build -t ghcr.io/jobwarden/jobwarden:0.1.0 .
#
# The build stage installs the operator as the tests do (`pip install '.[operator]'`: the
# dependencies are pyproject.toml's, all binary wheels: psycopg ships its own libpq),
# into a virtualenv; the runtime stage gets that virtualenv and tini, nothing else: no
# compiler, no pip cache, no apt lists. tini is PID 1 (ENTRYPOINT) and forwards signals
# to the process group, so SIGTERM reaches the operator or a job started with `args`.
# Pods that set `command` (the Export pods do: `python -m jobwarden.worker.export`)
# run their process as PID 1 itself; the worker SDK installs its SIGTERM handler, so
# the signal is delivered there too (PID 1 only ignores signals it has no handler for).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY operator ./operator
RUN python -m venv /opt/jobwarden \
    && /opt/jobwarden/bin/pip install --no-cache-dir '.[operator]' \
    && /opt/jobwarden/bin/python -c "import jobwarden.controller, jobwarden.worker.export"

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="jobwarden" \
      org.opencontainers.image.description="jobwarden operator and worker runtime" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini=0.19.0-1+b3 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 65532 jobwarden \
    && useradd --system --uid 65532 --gid 65532 --home-dir /home/jobwarden --create-home \
       --shell /usr/sbin/nologin jobwarden
COPY --from=build /opt/jobwarden /opt/jobwarden
ENV PATH=/opt/jobwarden/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /home/jobwarden
USER 65532:65532
ENTRYPOINT ["/usr/bin/tini", "-g", "--"]
CMD ["python", "-m", "jobwarden", "--standalone"]

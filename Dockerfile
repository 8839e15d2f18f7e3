# ChatwootAI: the appliance in one image (docs/architecture.md#processes). Build:
#   docker build -t chatwootai .
#   docker build -t chatwootai --build-arg NGROK_INSTALL=false .     (no download site reachable)
# Stages: deps (a venv of the dependencies; rebuilt only when pyproject.toml changes), app (the
# package itself, small), ngrok (the pinned, checksummed agent), then the final image.
ARG BASE_IMAGE=python:3.12-slim

FROM ${BASE_IMAGE} AS deps
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml ./
# Install only the dependencies: a placeholder package stands in for app/ so that editing the
# code never re-runs this step. Then leave out crewai's memory and knowledge stack (vector
# stores, embeddings, document parsers) and its project-scaffolding CLI tools: the hub uses
# none of them, they were 640 of the 1,050 MB, and crewai imports the vector store only when
# it is present. tests/container/test_image.py runs the crew tests inside the image to prove
# nothing the hub uses went with them.
RUN python3 -m venv /opt/venv \
 && mkdir app && touch app/__init__.py README.md \
 && /opt/venv/bin/pip install . \
 && /opt/venv/bin/pip uninstall -y chatwootai \
      lancedb lance-namespace lance-namespace-urllib3-client pyarrow \
      kubernetes onnxruntime huggingface-hub hf-xet \
      pdfplumber pdfminer.six pypdfium2 pillow uv textual \
 && /opt/venv/bin/python -c "import site, pathlib; pathlib.Path(site.getsitepackages()[0], 'chatwootai.pth').write_text('/opt/chatwootai\n')"

FROM deps AS app
COPY README.md ./
COPY app ./app
# The package and its `chatwootai` script go to /opt/chatwootai (found through the .pth above),
# so a code change rebuilds a layer of a few hundred kB instead of the whole venv.
RUN /opt/venv/bin/pip install --no-deps --target /opt/chatwootai . \
 && /opt/venv/bin/python -m compileall -q /opt/chatwootai/app

FROM ${BASE_IMAGE} AS ngrok
# A pinned ngrok v3 agent (https://ngrok.com/download), checked against its sha256; pyngrok
# drives it at run time and never downloads one. NGROK_INSTALL=false builds without it (where
# the download site cannot be reached): the tunnel program then says it is unavailable.
ARG NGROK_INSTALL=true
ARG NGROK_VERSION=3.14.0
ARG NGROK_URL_AMD64=https://bin.equinox.io/a/8oZyZn8Sh2k/ngrok-v3-3.14.0-linux-amd64
ARG NGROK_SHA256_AMD64=80d5ea4de774ad7f579d7381a492b6531c1d83c2a0476d236bd87b1aaaac3c7e
ARG NGROK_URL_ARM64=https://bin.equinox.io/a/3H9YcER9Em2/ngrok-v3-3.14.0-linux-arm64
ARG NGROK_SHA256_ARM64=021e698af6ccff051184e72bf02de4a5ce45b8e4ace28e000f004e8af841db23
ARG TARGETARCH=amd64
COPY scripts/fetch-ngrok.py /tmp/fetch-ngrok.py
RUN mkdir -p /out \
 && if [ "$NGROK_INSTALL" = "true" ]; then \
      case "$TARGETARCH" in \
        amd64) python3 /tmp/fetch-ngrok.py "$NGROK_URL_AMD64" "$NGROK_SHA256_AMD64" /out/ngrok ;; \
        arm64) python3 /tmp/fetch-ngrok.py "$NGROK_URL_ARM64" "$NGROK_SHA256_ARM64" /out/ngrok ;; \
        *) echo "no pinned ngrok agent for $TARGETARCH: build with --build-arg NGROK_INSTALL=false" >&2; exit 1 ;; \
      esac; \
    else \
      echo "NGROK_INSTALL=$NGROK_INSTALL: the image has no ngrok agent (set PUBLIC_URL, or rebuild)"; \
    fi

FROM ${BASE_IMAGE}
ARG NGROK_VERSION=3.14.0
LABEL org.opencontainers.image.title="ChatwootAI" \
      org.opencontainers.image.description="Self-hosted AI agent for Chatwoot: verified durable webhook ingress, a hub of crewai crews, replies through Chatwoot's REST API." \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.source="https://github.com/chatwootai/chatwootai" \
      io.chatwootai.ngrok.version="${NGROK_VERSION}"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/chatwootai/bin:/opt/venv/bin:$PATH \
    DATA_DIR=/data \
    LOG_DIR=/data/logs \
    APPLIANCE_RUN_DIR=/run/chatwootai \
    APPLIANCE_PROGRAMS=true
# logrotate: the log sidecar; openssh-client: the proxy playbook (ansible-core is in the venv)
# reaches the VPS over ssh. Debian's versions follow the base image, so they are not pinned.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends logrotate openssh-client \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 1000 app \
 && useradd --system --uid 1000 --gid app --home-dir /home/app --create-home --shell /usr/sbin/nologin app \
 && install -d -o app -g app -m 0750 /data /data/logs /run/chatwootai
COPY --from=ngrok /out/ /usr/local/bin/
COPY --from=deps /opt/venv /opt/venv
COPY --from=app /opt/chatwootai /opt/chatwootai
# The proxy playbook, beside the package where app/proxy.py looks for it.
COPY ansible /opt/chatwootai/ansible
COPY supervisord.conf /etc/supervisor/supervisord.conf
COPY image/ /
USER 1000:1000
# Relative DATA_DIR/LOG_DIR (a .env written by `make run`) still land in the volume.
WORKDIR /data
VOLUME /data
EXPOSE 8001
HEALTHCHECK --interval=5s --timeout=4s --start-period=60s --retries=3 \
  CMD ["python3", "/usr/local/bin/healthcheck"]
ENTRYPOINT ["/usr/local/bin/entrypoint"]

# Pertinent: one image for API nodes (`pertinent serve`) and workers (`pertinent worker`).
# Build: docker build -t pertinent .   Run the cluster: docker compose -f deploy/compose.yaml up
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir --upgrade pip build \
 && python -m build --wheel --outdir /wheels .

FROM python:3.11-slim
# libgomp1: LightGBM's OpenMP runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home /var/lib/pertinent --create-home pertinent
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER pertinent
WORKDIR /var/lib/pertinent
ENV PERTINENT_DATA_DIR=/var/lib/pertinent/data \
    PYTHONUNBUFFERED=1
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status == 200 else 1)"
CMD ["pertinent", "serve", "--host", "0.0.0.0", "--port", "8000"]

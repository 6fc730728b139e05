FROM python:3.12-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gateway gateway
COPY connectors connectors
COPY inbox inbox
COPY receivers receivers
COPY web web
RUN pip install --no-cache-dir . && useradd -r crocevia
ENV CROCEVIA_WEB_DIR=/app/web CROCEVIA_DATA_DIR=/var/lib/crocevia
USER crocevia
EXPOSE 8000
CMD ["crocevia", "serve", "--host", "0.0.0.0", "--port", "8000"]

# Multi-stage build: a static binary on a distroless, non-root base.
FROM docker.io/library/golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/prometheus/common/version.Version=${VERSION}" \
      -o /out/kube-triage-exporter ./cmd/kube-triage-exporter

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/kube-triage-exporter /kube-triage-exporter
USER 65532:65532
EXPOSE 10027
ENTRYPOINT ["/kube-triage-exporter"]

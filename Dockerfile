# syntax=docker/dockerfile:1
#
# Fiscus as a static binary on distroless, running as an unprivileged user.
#   docker build --build-arg VERSION=$(git describe --tags --always) -t fiscus .
# No secret is part of the image: APP_SECRET, DATABASE_URL and the rest come
# from the environment at run time (see README, "Configuration").

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
# modernc.org/sqlite is pure Go, so the binary needs no libc.
ENV CGO_ENABLED=0
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -buildvcs=false -ldflags "-s -w -X main.version=${VERSION}" \
        -o /out/fiscus ./cmd/fiscus \
    && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/fiscus /usr/local/bin/fiscus
# The data directory holds the default SQLite file and the dev-mode secret. A
# named volume mounted here starts with this ownership (uid 65532, nonroot).
COPY --from=build --chown=65532:65532 /out/data /data
ENV FISCUS_DATA_DIR=/data
VOLUME ["/data"]
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/fiscus"]
CMD ["serve"]

# One image for every dlbp role: maplb, reducelb, node and the dlbp client.
#
# There is no registry to pull a Go image from, so nothing is compiled here:
# scripts/cluster-docker.sh first builds static binaries on the host into
# bin/linux/ (CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' ./cmd/...),
# then runs `docker build -t dlbp:local .`; .dockerignore lets only bin/linux/
# into the build context. The role is the container's command:
#
#   docker run dlbp:local maplb --rpc maplb:7070 ...
#
# The image is FROM scratch: no shell, no libc, no CA bundle, no /etc/passwd.
# The daemons need none of them (the cluster secret authenticates RPC and
# encrypts gossip; TLS, when used, brings its own CA with --tls-ca).
FROM scratch

COPY bin/linux/maplb bin/linux/reducelb bin/linux/node bin/linux/dlbp /usr/local/bin/

# /data belongs to the unprivileged user, so a new named volume mounted there
# is writable (Docker copies the mount point's owner into an empty volume).
# /tmp exists for anything that falls back to os.TempDir().
COPY --chown=65532:65532 bin/linux/empty/ /data/
COPY --chown=65532:65532 bin/linux/empty/ /tmp/

USER 65532:65532
WORKDIR /data
VOLUME ["/data"]
ENV PATH=/usr/local/bin

# maplb RPC, reducelb RPC, node RPC, gossip (TCP and UDP), HTTP health.
EXPOSE 7070 7080 7090 7946 7946/udp 7071

# The role comes from the command: maplb, reducelb, node or dlbp.
ENTRYPOINT []
CMD ["dlbp", "--help"]

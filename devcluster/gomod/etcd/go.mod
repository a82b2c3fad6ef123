// Wrapper module: etcd's own go.mod files carry replace directives, so
// `go install go.etcd.io/etcd/...` fails; a main of our own around etcdmain builds.
module jobwarden.dev/devcluster/etcd

go 1.24

require go.etcd.io/etcd/server/v3 v3.6.5

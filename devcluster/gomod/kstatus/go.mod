// Wrapper module: Flux's kstatus (github.com/fluxcd/cli-utils) as a command, so tests
// can ask how Flux reads jobwarden's status conditions.
module jobwarden.dev/devcluster/kstatus

go 1.25.0

require github.com/fluxcd/cli-utils v1.3.0

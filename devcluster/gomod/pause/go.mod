// The real node's sandbox ("pause") image: a static program that holds a pod's
// namespaces, reaps orphans and exits on SIGTERM/SIGINT. Built here because no
// registry with the upstream pause image can be reached.
module jobwarden.dev/devcluster/pause

go 1.25.0

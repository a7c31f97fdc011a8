"""The cluster runtime: agents spread over several hosts, coordinated by etcd (issue 18).

`dtsctl node run` on each host registers the host with a lease, claims tasks with a
transaction bound to that lease, and runs their agents under the host's own supervisor;
`apply`, `destroy`, `plan` and `status` from any machine write desired tasks under the
workspace's etcd prefix and read the nodes' observations back. Secrets never go to etcd:
each node resolves them from its own environment or secret file. See docs/cluster.md.
"""

"""Sources of running containers, one module each (ECS, EKS, kubeconfig contexts), all of the same shape:
a collect function that reads its scope and returns a models.Inventory of workloads, the clusters it
covered (ClusterScope, ok False for one that could not be read) and the errors (SourceError) that make a
run incomplete. One failing cluster or region never stops the others; missing credentials stop everything
(CredentialsError propagates)."""

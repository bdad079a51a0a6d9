/**
 * The Kubernetes backend ({@code kubernetes:}), on the fabric8 client: registration as Go Kratos's pod labels and
 * annotations ({@link io.roster.kubernetes.KubernetesRegistry}), discovery of Running and Ready pods through fabric8
 * informers, and a read-only mode over Kubernetes Services' EndpointSlices. The module's {@code README.md} has the
 * RBAC Role and RoleBinding a service account needs and a Deployment snippet that sets {@code POD_NAME}.
 *
 * <p>Tested against fabric8's {@code KubernetesMockServer} in CRUD mode: no real API server can run on the build
 * machines. The README lists where the mock differs from an API server and how the code and tests deal with it.
 */
package io.roster.kubernetes;

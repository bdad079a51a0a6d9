package io.roster.kubernetes;

import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSliceBuilder;
import io.fabric8.kubernetes.client.dsl.Resource;
import io.roster.ServiceInstance;
import io.roster.Watcher;
import io.roster.testkit.TestInstances;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static io.roster.kubernetes.KubernetesTestServer.NAMESPACE;
import static io.roster.testkit.Watching.awaitIds;
import static io.roster.testkit.Watching.awaitList;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code mode=service}: Kubernetes Services read from their EndpointSlices, as the EndpointSlice controller writes them.
 */
class KubernetesServiceModeTest {
    private static final Duration BOUND = Duration.ofSeconds(10);
    private static KubernetesTestServer server;
    private static KubernetesRegistry services;

    @BeforeAll
    static void start() {
        server = KubernetesTestServer.shared();
        services = KubernetesRegistry.builder().config(server.config()).namespace(NAMESPACE)
                .mode(KubernetesRegistry.Mode.SERVICE).build();
    }

    @AfterAll
    static void stop() {
        services.close();
    }

    private static void service(String name, Map<String, String> labels) {
        server.client().services().inNamespace(NAMESPACE).resource(new ServiceBuilder().withNewMetadata()
                .withName(name).withNamespace(NAMESPACE).withLabels(labels).endMetadata()
                .withNewSpec().addToSelector("app", name).addNewPort().withName("http-web").withPort(80)
                .withNewTargetPort(8080).endPort().endSpec().build()).createOr(r -> r.update());
    }

    private static Resource<EndpointSlice> slice(String name) {
        return server.client().discovery().v1().endpointSlices().inNamespace(NAMESPACE).withName(name);
    }

    private static EndpointSliceBuilder sliceOf(String service, String name) {
        return new EndpointSliceBuilder().withNewMetadata().withName(name).withNamespace(NAMESPACE)
                .addToLabels(EndpointSlices.SERVICE_NAME, service)
                .addToLabels("endpointslice.kubernetes.io/managed-by", "endpointslice-controller.k8s.io").endMetadata()
                .withAddressType("IPv4")
                .addNewPort().withName("http-web").withPort(8080).withProtocol("TCP").endPort();
    }

    private static EndpointBuilder endpoint(String ip, String pod, boolean ready) {
        return new EndpointBuilder().withAddresses(ip).withNodeName("node-1").withZone("zone-a")
                .withNewConditions().withReady(ready).withServing(ready).withTerminating(false).endConditions()
                .withNewTargetRef().withKind("Pod").withName(pod).withNamespace(NAMESPACE).endTargetRef();
    }

    @Test
    void twoSlicesAnUnreadyEndpointAPortRenameAndScaleToZero() throws InterruptedException {
        String name = TestInstances.serviceName("web");
        service(name, Map.of("app.kubernetes.io/version", "2.4.1", "tier", "front"));
        server.client().resource(sliceOf(name, name + "-a")
                .withEndpoints(endpoint("10.4.0.1", "web-1", true).build(), endpoint("10.4.0.2", "web-2", false).build())
                .build()).create();
        server.client().resource(sliceOf(name, name + "-b")
                .withEndpoints(endpoint("10.4.0.3", "web-3", true)
                        .withNewHints().addNewForZone("zone-a").addNewForZone("zone-b").endHints().build())
                .build()).create();

        List<ServiceInstance> listed = services.getService(name);
        assertThat(listed).extracting(ServiceInstance::id).containsExactly("10.4.0.1", "10.4.0.3");
        assertThat(listed.get(0)).isEqualTo(ServiceInstance.builder().id("10.4.0.1").name(name).version("2.4.1")
                .metadata(Map.of("app.kubernetes.io/version", "2.4.1", "tier", "front", "namespace", NAMESPACE,
                        "zone", "zone-a", "node", "node-1", "pod", "web-1"))
                .endpoint("http://10.4.0.1:8080").build());
        assertThat(listed.get(1).metadata()).containsEntry("hints", "zone-a,zone-b");
        assertThat(services.services()).contains(name);

        try (Watcher watcher = services.watch(name)) {
            awaitIds(watcher, BOUND, Set.of("10.4.0.1", "10.4.0.3"));

            // The unready endpoint turns ready.
            slice(name + "-a").edit(s -> new EndpointSliceBuilder(s).withEndpoints(
                    endpoint("10.4.0.1", "web-1", true).build(), endpoint("10.4.0.2", "web-2", true).build()).build());
            awaitIds(watcher, BOUND, Set.of("10.4.0.1", "10.4.0.2", "10.4.0.3"));

            // The port is renamed: the scheme follows the name.
            for (String slice : List.of(name + "-a", name + "-b")) {
                slice(slice).edit(s -> new EndpointSliceBuilder(s).withPorts().addNewPort().withName("grpc-web")
                        .withPort(8080).withProtocol("TCP").endPort().build());
            }
            awaitList(watcher, BOUND, "grpc endpoints only", list -> list.size() == 3 && list.stream()
                    .allMatch(i -> i.endpoints().size() == 1 && i.endpoints().get(0).getScheme().equals("grpc")));

            // The Service's labels change: every instance's metadata and version follow.
            service(name, Map.of("app.kubernetes.io/version", "2.5.0", "tier", "front"));
            awaitList(watcher, BOUND, "version 2.5.0", list -> list.size() == 3
                    && list.stream().allMatch(i -> i.version().equals("2.5.0")));

            // Scale to zero: the controller empties one slice and deletes the other.
            slice(name + "-a").edit(s -> new EndpointSliceBuilder(s).withEndpoints().build());
            awaitIds(watcher, BOUND, Set.of("10.4.0.3"));
            slice(name + "-b").delete();
            awaitIds(watcher, BOUND, Set.of());
        }
        assertThat(services.getService(name)).isEmpty();
        assertThat(services.services()).doesNotContain(name);
    }

    @Test
    void portSchemesFollowNamesThenAppProtocolThenProtocol() {
        String name = TestInstances.serviceName("schemes");
        server.client().resource(new EndpointSliceBuilder().withNewMetadata().withName(name).withNamespace(NAMESPACE)
                .addToLabels(EndpointSlices.SERVICE_NAME, name).endMetadata()
                .withAddressType("IPv6")
                .addNewPort().withName("grpc-api").withPort(9000).endPort()
                .addNewPort().withName("").withAppProtocol("https").withPort(443).endPort()
                .addNewPort().withPort(7000).withProtocol("UDP").endPort()
                .addNewPort().withName("metrics").withPort(null).endPort()
                .withEndpoints(new EndpointBuilder().withAddresses("fd00::4").build()) // no conditions: ready
                .build()).create();

        assertThat(services.getService(name)).singleElement().satisfies(i -> {
            assertThat(i.id()).isEqualTo("fd00::4");
            assertThat(i.version()).isEmpty(); // no Service object: no labels, no version
            assertThat(i.metadata()).containsOnlyKeys("namespace");
            assertThat(i.endpoints()).extracting(Object::toString)
                    .containsExactly("grpc://[fd00::4]:9000", "https://[fd00::4]:443", "udp://[fd00::4]:7000");
        });
    }

    @Test
    void allNamespacesMixesTheServicesOfOneName() throws InterruptedException {
        String name = TestInstances.serviceName("spread");
        service(name, Map.of("tier", "here"));
        server.client().resource(sliceOf(name, name).withEndpoints(endpoint("10.4.2.1", "p", true).build()).build())
                .create();
        server.client().resource(sliceOf(name, name).editMetadata().withNamespace("other").endMetadata()
                .withEndpoints(endpoint("10.4.2.2", "q", true).build()).build()).create();
        try (KubernetesRegistry everywhere = KubernetesRegistry.builder().config(server.config()).allNamespaces(true)
                .serviceAccountNamespace(java.nio.file.Path.of("target/no-such-file"))
                .mode(KubernetesRegistry.Mode.SERVICE).build();
             Watcher watcher = everywhere.watch(name)) {
            awaitIds(watcher, BOUND, Set.of("10.4.2.1", "10.4.2.2"));
            assertThat(everywhere.getService(name)).extracting(i -> i.metadata().get("namespace") + "/"
                    + i.metadata().getOrDefault("tier", "-")).containsExactly(NAMESPACE + "/here", "other/-");
            assertThat(services.getService(name)).extracting(ServiceInstance::id).containsExactly("10.4.2.1");
            service(name, Map.of("tier", "there"));
            awaitList(watcher, BOUND, "the new label", list -> list.stream()
                    .anyMatch(i -> "there".equals(i.metadata().get("tier"))));
        }
    }

    @Test
    void servicesListsOnlyServicesWithAReadyEndpoint() {
        String ready = TestInstances.serviceName("has-ready");
        String unready = TestInstances.serviceName("none-ready");
        server.client().resource(sliceOf(ready, ready).withEndpoints(endpoint("10.4.1.1", "p", true).build()).build())
                .create();
        server.client().resource(sliceOf(unready, unready).withEndpoints(endpoint("10.4.1.2", "q", false).build())
                .build()).create();

        assertThat(services.services()).contains(ready).doesNotContain(unready);
        assertThat(services.getService(unready)).isEmpty();
    }
}

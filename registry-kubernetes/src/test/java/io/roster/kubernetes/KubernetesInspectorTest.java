package io.roster.kubernetes;

import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.ServiceBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSliceBuilder;
import io.fabric8.kubernetes.client.ConfigBuilder;
import io.roster.Registries;
import io.roster.Registry;
import io.roster.RegistryAccessDeniedException;
import io.roster.RegistryUnavailableException;
import io.roster.ServiceInstance;
import io.roster.spi.Inspection;
import io.roster.spi.Inspection.Kind;
import io.roster.spi.Inspector;
import io.roster.spi.RegistryUri;
import io.roster.testkit.FreePorts;
import io.roster.testkit.TestInstances;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.net.URI;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.ServiceLoader;
import java.util.stream.Collectors;

import static io.roster.kubernetes.KubernetesTestServer.port;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * {@link KubernetesInspector} on pods and EndpointSlices planted in the mock API server as Kratos, a Deployment
 * template or a careless operator leave them, each test in a namespace of its own so that a whole-namespace read sees
 * only its pods.
 */
class KubernetesInspectorTest {
    private static KubernetesTestServer server;

    @BeforeAll
    static void start() {
        server = KubernetesTestServer.shared();
    }

    private static KubernetesRegistry registry(String namespace, KubernetesRegistry.Mode mode) {
        return KubernetesRegistry.builder().config(server.config()).namespace(namespace).mode(mode).build();
    }

    private static Inspection inspect(KubernetesRegistry registry, String service) {
        return new KubernetesInspector().inspect(registry, RegistryUri.parse(URI.create("kubernetes:///")), service);
    }

    /** A pod labelled and annotated (null: left out), Running and Ready unless told otherwise. */
    private static PodBuilder pod(String namespace, String name, Map<String, String> labels, String metadata,
                                  String protocols, ContainerPort... ports) {
        Map<String, String> annotations = new LinkedHashMap<>();
        if (metadata != null) {
            annotations.put(PodLayout.METADATA, metadata);
        }
        if (protocols != null) {
            annotations.put(PodLayout.PROTOCOLS, protocols);
        }
        return new PodBuilder()
                .withNewMetadata().withName(name).withNamespace(namespace).withLabels(labels)
                .withAnnotations(annotations).endMetadata()
                .withNewSpec().addNewContainer().withName("main").withImage("roster/test").withPorts(ports)
                .endContainer().endSpec()
                .withNewStatus().withPhase("Running").withPodIP("10.7.0." + (name.hashCode() & 0x7f))
                .addNewCondition().withType("Ready").withStatus("True").endCondition().endStatus();
    }

    private static Map<String, String> labels(String app, String id, String version) {
        Map<String, String> labels = new LinkedHashMap<>();
        labels.put("app", "roster-test");
        if (app != null) {
            labels.put(PodLayout.APP, app);
        }
        if (id != null) {
            labels.put(PodLayout.ID, id);
        }
        if (version != null) {
            labels.put(PodLayout.VERSION, version);
        }
        return labels;
    }

    private static void create(PodBuilder pod) {
        server.create(pod.build());
    }

    private static Map<String, List<String>> kindsByLocation(Inspection inspection) {
        return inspection.problems().stream().collect(Collectors.groupingBy(Inspection.Problem::location,
                LinkedHashMap::new, Collectors.mapping(p -> p.kind().code(), Collectors.toList())));
    }

    @Test
    void everyPlantedPodProblemIsNamedWithItsPod() {
        String ns = "inspect-pods";
        ContainerPort grpc = port("grpc", 9000);
        create(pod(ns, "good", labels("greeter", "g-1", "v1"), "{\"zone\":\"a\"}", "{\"9000\":\"grpc\"}", grpc));
        create(pod(ns, "template", labels("greeter", "g-t", "v1"), null, null, port("http-web", 8080)));
        create(pod(ns, "bad-json", labels("greeter", "g-2", "v1"), "not json", "{\"9000\":\"grpc\"}", grpc));
        create(pod(ns, "bad-protocols", labels("greeter", "g-3", "v1"), null, "{\"9000\":7}", grpc));
        create(pod(ns, "undeclared", labels("greeter", "g-4", "v1"), null, "{\"9000\":\"grpc\",\"9100\":\"http\"}",
                grpc));
        create(pod(ns, "twin", labels("greeter", "g-1", "v1"), null, "{\"9000\":\"grpc\"}", grpc));
        create(pod(ns, "not-ready", labels("greeter", "g-5", "v1"), null, "{\"9000\":\"grpc\"}", grpc)
                .editStatus().editFirstCondition().withStatus("False").endCondition().endStatus());
        create(pod(ns, "pending", labels("greeter", "g-6", "v1"), null, "{\"9000\":\"grpc\"}", grpc)
                .editStatus().withPhase("Pending").withPodIP(null).endStatus());
        create(pod(ns, "no-port", labels("greeter", "g-7", "v1"), null, null));
        create(pod(ns, "no-id", labels("greeter", null, "v1"), null, "{\"9000\":\"grpc\"}", grpc));
        create(pod(ns, "bad-version", labels("greeter", "g-8", "v 1"), null, "{\"9000\":\"grpc\"}", grpc));
        create(pod(ns, "empty-app", labels("", "g-9", "v1"), null, "{\"9000\":\"grpc\"}", grpc));
        create(pod(ns, "kratos-deregistered", labels("", "", ""), "{}", "{}", grpc));
        create(pod(ns, "terminating", labels("greeter", "g-10", "v1"), null, "{\"9000\":\"grpc\"}", grpc)
                .editMetadata().addToFinalizers("roster.test/hold").endMetadata());
        server.client().pods().inNamespace(ns).withName("terminating").delete();

        try (KubernetesRegistry registry = registry(ns, KubernetesRegistry.Mode.POD)) {
            Inspection inspection = inspect(registry, null);

            assertThat(inspection.raw()).isTrue();
            assertThat(inspection.layout()).contains("namespace " + ns);
            assertThat(inspection.records()).extracting(Inspection.Record::location)
                    .doesNotContain(ns + "/kratos-deregistered").contains(ns + "/good", ns + "/template");
            assertThat(inspection.problemsAt(ns + "/good")).isEmpty();
            assertThat(inspection.problemsAt(ns + "/template")).as("labels from a Deployment template").isEmpty();
            ServiceInstance good = inspection.records().stream().filter(r -> r.location().equals(ns + "/good"))
                    .findFirst().orElseThrow().instance().orElseThrow();
            assertThat(good.id()).isEqualTo("g-1");
            assertThat(good.metadata()).isEqualTo(Map.of("zone", "a"));
            assertThat(good.endpoints()).hasSize(1);
            assertThat(good.endpoints().get(0).getScheme()).isEqualTo("grpc");

            Map<String, List<String>> kinds = kindsByLocation(inspection);
            assertThat(kinds).containsEntry(ns + "/bad-json", List.of("not-decodable"))
                    .containsEntry(ns + "/bad-protocols", List.of("not-decodable"))
                    .containsEntry(ns + "/undeclared", List.of("bad-endpoint"))
                    .containsEntry(ns + "/twin", List.of("duplicate-id"))
                    .containsEntry(ns + "/not-ready", List.of("unhealthy"))
                    .containsEntry(ns + "/pending", List.of("unhealthy", "no-endpoint"))
                    .containsEntry(ns + "/no-port", List.of("no-endpoint"))
                    .containsEntry(ns + "/no-id", List.of("not-decodable"))
                    .containsEntry(ns + "/bad-version", List.of("not-decodable"))
                    .containsEntry(ns + "/empty-app", List.of("empty-service-name"))
                    .containsEntry(ns + "/terminating", List.of("unhealthy"))
                    .doesNotContainKeys(ns + "/good", ns + "/template", ns + "/kratos-deregistered");
            assertThat(detail(inspection, ns + "/bad-json")).contains("kratos-service-metadata", "not json");
            assertThat(detail(inspection, ns + "/undeclared")).contains("port 9100", "Go Kratos");
            assertThat(detail(inspection, ns + "/twin")).contains("'g-1'", "also held by " + ns + "/good");
            assertThat(detail(inspection, ns + "/not-ready")).contains("NotReady");
            assertThat(detail(inspection, ns + "/pending")).contains("Pending");
            assertThat(detail(inspection, ns + "/terminating")).contains("terminating");
            assertThat(detail(inspection, ns + "/no-id")).contains(PodLayout.ID);
            assertThat(detail(inspection, ns + "/bad-version")).contains("'v 1'", "label value");

            Inspection one = inspect(registry, "greeter");
            assertThat(one.records()).hasSize(inspection.records().size() - 1); // all but empty-app's
        }
    }

    private static String detail(Inspection inspection, String location) {
        return inspection.problemsAt(location).get(0).detail();
    }

    @Test
    void aCleanServiceIsCleanAndAsRosterRegisteredIt() {
        String ns = "inspect-clean";
        String name = TestInstances.serviceName("clean");
        create(pod(ns, "clean-1", Map.of(), null, null, port("grpc", 9000)));
        try (KubernetesRegistry registry = KubernetesRegistry.builder().config(server.config()).namespace(ns)
                .podName("clean-1").build()) {
            Pod pod = server.client().pods().inNamespace(ns).withName("clean-1").get();
            ServiceInstance instance = ServiceInstance.builder().name(name).id("c-1").version("v2")
                    .metadata("zone", "b").endpoint("grpc://" + pod.getStatus().getPodIP() + ":9000").build();
            registry.register(instance);

            Inspection inspection = inspect(registry, name);

            assertThat(inspection.isClean()).as("%s", inspection.problems()).isTrue();
            assertThat(inspection.records()).singleElement().satisfies(r -> {
                assertThat(r.location()).isEqualTo(ns + "/clean-1");
                assertThat(r.instance()).contains(instance);
                assertThat(r.text()).contains("\"kratos-service-id\":\"c-1\"", "\"podIP\"");
            });
            Inspection unlabelled = inspect(registry, "_private.svc");
            assertThat(unlabelled.records()).isEmpty();
            assertThat(unlabelled.note()).hasValueSatisfying(n -> assertThat(n).contains("not a label value"));
        }
    }

    @Test
    void serviceModeNamesUnreadyEndpointsUnnamedPortsAndServicesWithNoReadyEndpoint() {
        String ns = "inspect-slices";
        for (String name : List.of("web", "idle", "bare")) {
            server.client().services().inNamespace(ns).resource(new ServiceBuilder().withNewMetadata().withName(name)
                    .withNamespace(ns).addToLabels("app.kubernetes.io/version", "1.0").endMetadata().withNewSpec()
                    .addNewPort().withPort(80).endPort().endSpec().build()).create();
        }
        server.client().resource(slice(ns, "web", "web-a", "http-web")
                .withEndpoints(endpoint("10.8.0.1", true, false), endpoint("10.8.0.2", false, false),
                        endpoint("10.8.0.3", false, true)).build()).create();
        server.client().resource(slice(ns, "web", "web-b", "http-web")
                .withEndpoints(endpoint("10.8.0.1", true, false)).build()).create();
        server.client().resource(slice(ns, "idle", "idle-a", null)
                .withEndpoints(endpoint("10.8.1.1", false, false)).build()).create();

        try (KubernetesRegistry registry = registry(ns, KubernetesRegistry.Mode.SERVICE)) {
            Inspection inspection = inspect(registry, null);

            Map<String, List<String>> kinds = kindsByLocation(inspection);
            assertThat(inspection.problemsAt(ns + "/web-a/10.8.0.1")).isEmpty();
            assertThat(kinds).containsEntry(ns + "/web-a/10.8.0.2", List.of("unhealthy"))
                    .containsEntry(ns + "/web-a/10.8.0.3", List.of("unhealthy"))
                    .containsEntry(ns + "/web-b/10.8.0.1", List.of("duplicate-id"))
                    .containsEntry(ns + "/idle-a", List.of("bad-endpoint"))
                    .containsEntry(ns + "/idle-a/10.8.1.1", List.of("unhealthy"))
                    .containsEntry(ns + "/idle", List.of("no-endpoint"))
                    .doesNotContainKeys(ns + "/web", ns + "/bare"); // bare: no slices, no selector, nobody's
            assertThat(detail(inspection, ns + "/web-a/10.8.0.3")).contains("terminating");
            assertThat(detail(inspection, ns + "/idle-a")).contains("port 8080 has no name", "tcp");
            assertThat(inspection.records()).filteredOn(r -> r.location().equals(ns + "/web-a/10.8.0.1"))
                    .singleElement().satisfies(r -> assertThat(r.instance().orElseThrow().version()).isEqualTo("1.0"));

            assertThat(kindsByLocation(inspect(registry, "bare")))
                    .containsEntry(ns + "/bare", List.of("no-endpoint"));
        }
    }

    private static EndpointSliceBuilder slice(String ns, String service, String name, String portName) {
        return new EndpointSliceBuilder().withNewMetadata().withName(name).withNamespace(ns)
                .addToLabels(EndpointSlices.SERVICE_NAME, service).endMetadata().withAddressType("IPv4")
                .addNewPort().withName(portName).withPort(8080).withProtocol("TCP").endPort();
    }

    private static io.fabric8.kubernetes.api.model.discovery.v1.Endpoint endpoint(String ip, boolean ready,
                                                                                  boolean terminating) {
        return new EndpointBuilder().withAddresses(ip).withNewConditions().withReady(ready).withServing(ready)
                .withTerminating(terminating).endConditions().build();
    }

    @Test
    void refusedAndUnreachableApiServersFailAsTheRegistryDoes() throws Exception {
        String ns = "inspect-refused";
        try (KubernetesRegistry registry = registry(ns, KubernetesRegistry.Mode.POD);
             AutoCloseable forbidden = server.forbid("GET", "/api/v1/namespaces/" + ns + "/pods")) {
            assertThatThrownBy(() -> inspect(registry, null)).isInstanceOf(RegistryAccessDeniedException.class)
                    .hasMessageContaining("403");
        }
        long started = System.nanoTime();
        try (KubernetesRegistry registry = KubernetesRegistry.builder().namespace(ns).timeout(Duration.ofSeconds(2))
                .config(new ConfigBuilder(server.config()).withMasterUrl("http://127.0.0.1:" + FreePorts.next())
                        .withRequestTimeout(2_000).build()).build()) {
            assertThatThrownBy(() -> inspect(registry, null)).isInstanceOf(RegistryUnavailableException.class);
        }
        assertThat(Duration.ofNanos(System.nanoTime() - started)).isLessThan(Duration.ofSeconds(10));
    }

    @Test
    void toolsFindItByScheme() {
        assertThat(ServiceLoader.load(Inspector.class).stream().map(ServiceLoader.Provider::get)
                .filter(i -> i.scheme().equals("kubernetes")).findFirst()).get()
                .isInstanceOf(KubernetesInspector.class)
                .satisfies(i -> assertThat(i.timeoutOption()).contains("timeout"));
        try (Registry mem = Registries.open("mem://kubernetes-inspector-test")) {
            assertThat(new KubernetesInspector().inspect(mem, RegistryUri.parse(URI.create("mem://x")), null).raw())
                    .as("another registry type gets the generic check").isFalse();
        }
    }
}

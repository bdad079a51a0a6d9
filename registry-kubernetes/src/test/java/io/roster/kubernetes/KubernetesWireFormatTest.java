package io.roster.kubernetes;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.fabric8.kubernetes.api.model.Pod;
import io.roster.Registry;
import io.roster.ServiceInstance;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;

import static io.roster.kubernetes.KubernetesTestServer.NAMESPACE;
import static io.roster.kubernetes.KubernetesTestServer.port;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Kratos's pod layout both ways ({@code kratos-registry.md} §7, §13): what Roster writes is what Kratos writes, and a
 * pod labelled the way Kratos (or a Deployment template for Kratos) labels it is read with every field.
 */
class KubernetesWireFormatTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final AtomicInteger PODS = new AtomicInteger();
    private static KubernetesTestServer server;
    private static KubernetesRegistry reader;

    @BeforeAll
    static void start() {
        server = KubernetesTestServer.shared();
        reader = KubernetesRegistry.builder().client(server.client()).namespace(NAMESPACE).build();
    }

    @AfterAll
    static void stop() {
        reader.close();
    }

    @Test
    void registrationIsKratossLabelsAndAnnotations() throws IOException {
        String pod = "golden-" + PODS.incrementAndGet();
        server.runPod(pod, "10.0.0.5", port("grpc", 9000), port("http", 8000));
        ServiceInstance instance = ServiceInstance.builder()
                .id("56991810-c77f-4a95-8190-393efa9c1a61")
                .name("helloworld")
                .version("v1.0.0")
                .metadata("zone", "sh001").metadata("region", "sh").metadata("note", "a<b>&c")
                .endpoint("grpc://10.0.0.5:9000").endpoint("http://10.0.0.5:8000")
                .build();

        // The patch Kratos sends (as a strategic merge patch; Roster sends it as a JSON merge patch, same meaning).
        assertThat(JSON.readTree(PodLayout.registerPatch(instance))).isEqualTo(JSON.readTree(
                "{\"metadata\":{\"labels\":{\"kratos-service-id\":\"56991810-c77f-4a95-8190-393efa9c1a61\","
                        + "\"kratos-service-app\":\"helloworld\",\"kratos-service-version\":\"v1.0.0\"},"
                        + "\"annotations\":{"
                        + "\"kratos-service-metadata\":\"{\\\"note\\\":\\\"a\\\\u003cb\\\\u003e\\\\u0026c\\\","
                        + "\\\"region\\\":\\\"sh\\\",\\\"zone\\\":\\\"sh001\\\"}\","
                        + "\"kratos-service-protocols\":\"{\\\"8000\\\":\\\"http\\\",\\\"9000\\\":\\\"grpc\\\"}\"}}}"));

        try (Registry registry = registryOf(pod)) {
            registry.register(instance);

            Pod written = server.pod(pod).get();
            assertThat(PodLayout.labelsOf(written)).contains(
                    Map.entry("kratos-service-id", "56991810-c77f-4a95-8190-393efa9c1a61"),
                    Map.entry("kratos-service-app", "helloworld"),
                    Map.entry("kratos-service-version", "v1.0.0"),
                    Map.entry("app", "roster-test"));
            assertThat(PodLayout.annotationsOf(written)).containsExactlyInAnyOrderEntriesOf(Map.of(
                    "kratos-service-metadata", "{\"note\":\"a\\u003cb\\u003e\\u0026c\",\"region\":\"sh\",\"zone\":\"sh001\"}",
                    "kratos-service-protocols", "{\"8000\":\"http\",\"9000\":\"grpc\"}"));
            // Go Kratos selects by the app label and reads the pod back as the same instance.
            assertThat(server.client().pods().inNamespace(NAMESPACE).withLabel("kratos-service-app", "helloworld")
                    .list().getItems()).extracting(p -> p.getMetadata().getName()).containsExactly(pod);
            assertThat(reader.getService("helloworld")).containsExactly(instance);
        }
        // Deregistered (on close): no label, no annotation of the layout; other labels stay.
        Pod after = server.pod(pod).get();
        assertThat(PodLayout.labelsOf(after)).containsOnlyKeys("app");
        assertThat(PodLayout.annotationsOf(after)).isEmpty();
        assertThat(reader.getService("helloworld")).isEmpty();
    }

    @Test
    void emptyMetadataIsWrittenAsGoWritesANilMap() {
        String pod = "golden-" + PODS.incrementAndGet();
        server.runPod(pod, "10.0.0.6", port("grpc", 9000));
        ServiceInstance instance = ServiceInstance.builder().id("bare").name("bare-svc")
                .endpoint("grpc://10.0.0.6:9000").build();
        try (Registry registry = registryOf(pod)) {
            registry.register(instance);
            assertThat(PodLayout.annotationsOf(server.pod(pod).get()))
                    .containsEntry("kratos-service-metadata", "null")
                    .containsEntry("kratos-service-protocols", "{\"9000\":\"grpc\"}");
            assertThat(PodLayout.labelsOf(server.pod(pod).get())).containsEntry("kratos-service-version", "");
            assertThat(reader.getService("bare-svc")).containsExactly(instance);
        }
    }

    /** A pod as a Deployment template for Kratos labels it (Kratos's own example): YAML block scalars and all. */
    @Test
    void aPodLabelledForKratosIsReadWithEveryField() {
        server.create(server.client().getKubernetesSerialization().unmarshal(String.join("\n",
                "apiVersion: v1",
                "kind: Pod",
                "metadata:",
                "  name: kratos-nginx",
                "  namespace: " + NAMESPACE,
                "  labels:",
                "    app: nginx",
                "    kratos-service-id: \"56991810-c77f-4a95-8190-393efa9c1a61\"",
                "    kratos-service-app: \"nginx\"",
                "    kratos-service-version: \"v3.5.0\"",
                "  annotations:",
                "    kratos-service-protocols: |",
                "      {\"80\": \"http\", \"9000\": \"grpc\"}",
                "    kratos-service-metadata: |",
                "      {\"zone\": \"sh001\", \"region\": \"sh\", \"cluster\": \"pd\", \"escaped\": \"a\\u003cb\"}",
                "spec:",
                "  containers:",
                "    - name: nginx",
                "      image: nginx:1.7.9",
                "      ports:",
                "        - containerPort: 80",
                "    - name: api",
                "      image: api",
                "      ports:",
                "        - name: grpc-api",
                "          containerPort: 9000",
                "    - name: istio-proxy",
                "      image: proxy",
                "      ports:",
                "        - name: http-envoy-prom",
                "          containerPort: 15090",
                "status:",
                "  phase: Running",
                "  podIP: 10.1.2.3",
                "  conditions:",
                "    - type: Ready",
                "      status: \"True\""), Pod.class));

        assertThat(reader.getService("nginx")).containsExactly(ServiceInstance.builder()
                .id("56991810-c77f-4a95-8190-393efa9c1a61")
                .name("nginx")
                .version("v3.5.0")
                .metadata(Map.of("zone", "sh001", "region", "sh", "cluster", "pd", "escaped", "a<b"))
                // Container order; the sidecar's port is not in the protocols annotation, so it is not this service's.
                .endpoint("http://10.1.2.3:80").endpoint("grpc://10.1.2.3:9000")
                .build());
        assertThat(reader.services()).contains("nginx");
    }

    /** Labels set in a template without the protocols annotation: Kratos's port-name rule for every port. */
    @Test
    void withoutProtocolsEveryContainerPortIsAnEndpointNamedByItsPort() {
        server.create(server.client().getKubernetesSerialization().unmarshal(String.join("\n",
                "apiVersion: v1",
                "kind: Pod",
                "metadata:",
                "  name: kratos-static",
                "  namespace: " + NAMESPACE,
                "  labels: {kratos-service-id: static-1, kratos-service-app: static-svc}",
                "spec:",
                "  containers:",
                "    - name: main",
                "      image: app",
                "      ports:",
                "        - {name: grpc-api, containerPort: 9000}",
                "        - {name: http, containerPort: 8000}",
                "        - {containerPort: 7000, protocol: TCP}",
                "        - {containerPort: 7001}",
                "status: {phase: Running, podIP: \"fd00::7\", conditions: [{type: Ready, status: \"True\"}]}"), Pod.class));

        assertThat(reader.getService("static-svc")).singleElement().satisfies(i -> {
            assertThat(i.id()).isEqualTo("static-1");
            assertThat(i.version()).isEmpty();
            assertThat(i.metadata()).isEmpty();
            assertThat(i.endpoints()).extracting(Object::toString).containsExactly(
                    "grpc://[fd00::7]:9000", "http://[fd00::7]:8000", "tcp://[fd00::7]:7000", "tcp://[fd00::7]:7001");
        });
    }

    /** An annotated port that no container declares is where the instance said it serves; Go Kratos misses it. */
    @Test
    void anAnnotatedUndeclaredPortIsStillAnEndpoint() {
        server.create(server.client().getKubernetesSerialization().unmarshal(String.join("\n",
                "apiVersion: v1",
                "kind: Pod",
                "metadata:",
                "  name: kratos-undeclared",
                "  namespace: " + NAMESPACE,
                "  labels: {kratos-service-id: u-1, kratos-service-app: undeclared-svc, kratos-service-version: v1}",
                "  annotations: {kratos-service-protocols: '{\"9000\":\"grpc\",\"8000\":\"http\"}', "
                        + "kratos-service-metadata: 'null'}",
                "spec: {containers: [{name: main, image: app, ports: [{name: grpc, containerPort: 9000}]}]}",
                "status: {phase: Running, podIP: 10.1.2.4, conditions: [{type: Ready, status: \"True\"}]}"), Pod.class));

        assertThat(reader.getService("undeclared-svc")).singleElement().satisfies(i -> assertThat(i.endpoints())
                .extracting(Object::toString).containsExactly("grpc://10.1.2.4:9000", "http://10.1.2.4:8000"));
    }

    /** Kratos deregisters by setting the labels to "" and the annotations to {}: such a pod is no instance. */
    @Test
    void aPodDeregisteredByKratosIsNotListed() {
        server.create(server.client().getKubernetesSerialization().unmarshal(String.join("\n",
                "apiVersion: v1",
                "kind: Pod",
                "metadata:",
                "  name: kratos-deregistered",
                "  namespace: " + NAMESPACE,
                "  labels: {kratos-service-id: \"\", kratos-service-app: \"\", kratos-service-version: \"\"}",
                "  annotations: {kratos-service-protocols: '{}', kratos-service-metadata: '{}'}",
                "spec: {containers: [{name: main, image: app, ports: [{name: grpc, containerPort: 9000}]}]}",
                "status: {phase: Running, podIP: 10.1.2.5, conditions: [{type: Ready, status: \"True\"}]}"), Pod.class));

        assertThat(reader.services()).doesNotContain("");
        assertThat(reader.getService("kratos-deregistered")).isEmpty();
    }

    /** One malformed pod is skipped and logged once, never thrown; the others are listed. */
    @Test
    void malformedPodsAreSkippedAndLoggedOnce() throws IOException {
        String good = "good-" + PODS.incrementAndGet();
        server.runPod(good, "10.0.0.9", port("grpc", 9000));
        try (Registry registry = registryOf(good)) {
            registry.register(ServiceInstance.builder().id("good").name("mixed-svc").endpoint("grpc://10.0.0.9:9000")
                    .build());
            for (String[] bad : List.of(
                    new String[] {"bad-metadata", "{not json", "{\"9000\":\"grpc\"}"},
                    new String[] {"bad-metadata-type", "{\"weight\": 100}", "{\"9000\":\"grpc\"}"},
                    new String[] {"bad-protocols", "null", "[\"grpc\"]"})) {
                server.create(server.client().getKubernetesSerialization().unmarshal(String.join("\n",
                        "apiVersion: v1",
                        "kind: Pod",
                        "metadata:",
                        "  name: " + bad[0],
                        "  namespace: " + NAMESPACE,
                        "  labels: {kratos-service-id: " + bad[0] + ", kratos-service-app: mixed-svc}",
                        "  annotations: {kratos-service-metadata: '" + bad[1] + "', kratos-service-protocols: '"
                                + bad[2] + "'}",
                        "spec: {containers: [{name: main, image: app, ports: [{name: grpc, containerPort: 9000}]}]}",
                        "status: {phase: Running, podIP: 10.1.3.1, conditions: [{type: Ready, status: \"True\"}]}"),
                        Pod.class));
            }

            for (int i = 0; i < 3; i++) {
                assertThat(reader.getService("mixed-svc")).extracting(ServiceInstance::id).containsExactly("good");
            }
            assertThat(reader.services()).contains("mixed-svc");
        }
        String log = Files.readString(Path.of("target/kubernetes-tests.log"), StandardCharsets.UTF_8);
        for (String bad : List.of("bad-metadata", "bad-metadata-type", "bad-protocols")) {
            assertThat(log.lines().filter(l -> l.contains("pod " + NAMESPACE + "/" + bad + ":"))).as(bad).hasSize(1);
        }
    }

    private static Registry registryOf(String pod) {
        return KubernetesRegistry.builder().client(server.client()).namespace(NAMESPACE).podName(pod).build();
    }
}

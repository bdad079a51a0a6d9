package io.roster.kubernetes;

import io.fabric8.kubernetes.api.model.Pod;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.client.dsl.base.PatchContext;
import io.fabric8.kubernetes.client.dsl.base.PatchType;
import io.roster.InvalidInstanceException;
import io.roster.InvalidOptionException;
import io.roster.Registry;
import io.roster.ServiceInstance;
import io.roster.Watcher;
import io.roster.testkit.TestInstances;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;

import static io.roster.kubernetes.KubernetesTestServer.NAMESPACE;
import static io.roster.kubernetes.KubernetesTestServer.port;
import static io.roster.testkit.Watching.awaitIds;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * Registration on the process's own pod: one registration per pod, labels put back when someone removes them,
 * deregistration that never touches another registration, and every bad input refused before any request.
 */
class KubernetesRegistrationTest {
    private static final Duration BOUND = Duration.ofSeconds(10);
    private static final AtomicInteger PODS = new AtomicInteger();
    private static KubernetesTestServer server;
    private static KubernetesRegistry observer;

    @BeforeAll
    static void start() {
        server = KubernetesTestServer.shared();
        observer = KubernetesRegistry.builder().client(server.client()).namespace(NAMESPACE).build();
    }

    @AfterAll
    static void stop() {
        observer.close();
    }

    private static String pod(String ip) {
        String name = "r-" + PODS.incrementAndGet();
        server.runPod(name, ip, port("grpc", 9000), port("http", 8000));
        return name;
    }

    private static KubernetesRegistry registryOf(String pod) {
        return KubernetesRegistry.builder().config(server.config()).namespace(NAMESPACE).podName(pod).build();
    }

    private static ServiceInstance instance(String service, String id, String ip) {
        return ServiceInstance.builder().name(service).id(id).version("v1")
                .endpoint("grpc://" + ip + ":9000").endpoint("http://" + ip + ":8000").build();
    }

    @Test
    void aPodHoldsOneRegistration() {
        String pod = pod("10.3.0.1");
        String service = TestInstances.serviceName("one");
        try (KubernetesRegistry registry = registryOf(pod);
             KubernetesRegistry sameProcess = registryOf(pod)) {
            ServiceInstance first = instance(service, "first", "10.3.0.1");
            registry.register(first);
            ServiceInstance updated = first.toBuilder().version("v2").metadata("color", "blue").build();
            registry.register(updated); // the same name and id: an update
            await().atMost(BOUND).until(registry::guarding);

            int requests = server.requestCount();
            assertThatThrownBy(() -> registry.register(instance(service, "second", "10.3.0.1")))
                    .isInstanceOf(InvalidInstanceException.class)
                    .hasMessageContaining("pod " + NAMESPACE + "/" + pod + " carries " + service + "/first")
                    .hasMessageContaining("a pod holds one registration");
            assertThatThrownBy(() -> registry.register(instance(service + "-other", "first", "10.3.0.1")))
                    .isInstanceOf(InvalidInstanceException.class);
            assertThatThrownBy(() -> sameProcess.register(instance(service, "third", "10.3.0.1")))
                    .isInstanceOf(InvalidInstanceException.class)
                    .hasMessageContaining("another KubernetesRegistry of this process");
            assertThat(server.requestCount()).as("requests for refused registrations").isEqualTo(requests);

            assertThat(observer.getService(service)).containsExactly(updated);
            registry.deregister(updated);
            sameProcess.register(instance(service, "third", "10.3.0.1")); // free again
            assertThat(observer.getService(service)).extracting(ServiceInstance::id).containsExactly("third");
        }
    }

    @Test
    void labelsRemovedBySomeoneElseArePutBack() throws InterruptedException {
        String pod = pod("10.3.0.2");
        String service = TestInstances.serviceName("restore");
        ServiceInstance instance = instance(service, "kept", "10.3.0.2");
        try (KubernetesRegistry registry = registryOf(pod); Watcher watcher = observer.watch(service)) {
            registry.register(instance);
            awaitIds(watcher, BOUND, Set.of("kept"));
            await().atMost(BOUND).until(registry::guarding);

            // kubectl label pod <pod> kratos-service-app-   (and the same for the annotations, say by a redeploy patch)
            Pod stripped = server.pod(pod).patch(PatchContext.of(PatchType.JSON), "[{\"op\":\"remove\",\"path\":"
                    + "\"/metadata/labels/kratos-service-app\"},{\"op\":\"remove\",\"path\":"
                    + "\"/metadata/annotations/kratos-service-metadata\"}]");
            assertThat(stripped.getMetadata().getLabels()).doesNotContainKey(PodLayout.APP);
            await().atMost(BOUND).until(() -> PodLayout.carries(server.pod(pod).get(), instance));

            // Someone edits the version label: put back too.
            server.pod(pod).edit(p -> new PodBuilder(p).editMetadata().addToLabels(PodLayout.VERSION, "tampered")
                    .endMetadata().build());
            await().atMost(BOUND).until(() -> PodLayout.carries(server.pod(pod).get(), instance));
            assertThat(observer.getService(service)).containsExactly(instance);
        }
        // Deregistered on close, and not put back by anyone afterwards.
        assertThat(PodLayout.registeredId(server.pod(pod).get())).isNull();
    }

    @Test
    void aRegistrationLeftOnThePodByAnEarlierProcessIsReplaced() {
        String pod = pod("10.3.0.3");
        String service = TestInstances.serviceName("restart");
        try (KubernetesRegistry crashed = registryOf(pod)) {
            crashed.register(instance(service, "before-restart", "10.3.0.3"));
            crashed.kill(); // the container restarts; the pod keeps its labels
        }
        assertThat(observer.getService(service)).extracting(ServiceInstance::id).containsExactly("before-restart");
        try (KubernetesRegistry restarted = registryOf(pod)) {
            restarted.register(instance(service, "after-restart", "10.3.0.3"));
            assertThat(observer.getService(service)).extracting(ServiceInstance::id).containsExactly("after-restart");
        }
        assertThat(observer.getService(service)).isEmpty();
    }

    /** Contract case 17 on Kubernetes: a copy of another pod's instance is not this registry's to remove. */
    @Test
    void deregisteringAnotherPodsInstanceTouchesNothing() {
        String podA = pod("10.3.0.4");
        String podB = pod("10.3.0.5");
        String service = TestInstances.serviceName("stranger");
        ServiceInstance a = instance(service, "a", "10.3.0.4");
        ServiceInstance b = instance(service, "b", "10.3.0.5");
        try (KubernetesRegistry owner = registryOf(podA); KubernetesRegistry stranger = registryOf(podB)) {
            owner.register(a);
            stranger.register(b);
            await().atMost(BOUND).until(() -> owner.guarding() && stranger.guarding());
            Pod podABefore = server.pod(podA).get();
            Pod podBBefore = server.pod(podB).get();
            int requests = server.requestCount();
            server.takeRequests();

            stranger.deregister(a);

            assertThat(server.requestCount()).as("%s", server.takeRequests()).isEqualTo(requests);
            assertThat(server.pod(podA).get().getMetadata().getResourceVersion())
                    .isEqualTo(podABefore.getMetadata().getResourceVersion());
            assertThat(server.pod(podB).get().getMetadata().getResourceVersion())
                    .isEqualTo(podBBefore.getMetadata().getResourceVersion());
            assertThat(observer.getService(service)).containsExactly(a, b);
        }
    }

    /**
     * Deregistering removes only this registration: a deregistration the API server could not take is finished later,
     * but when someone wrote another registration on the pod meanwhile, that one stays.
     */
    @Test
    void aLateDeregistrationLeavesARegistrationThatReplacedOurs() {
        String pod = pod("10.3.0.6");
        String service = TestInstances.serviceName("replaced");
        ServiceInstance ours = instance(service, "ours", "10.3.0.6");
        ServiceInstance theirs = instance(service, "theirs", "10.3.0.6");
        try (KubernetesRegistry registry = registryOf(pod)) {
            registry.register(ours);
            server.stop();
            try {
                assertThatThrownBy(() -> registry.deregister(ours)).isInstanceOf(io.roster.RegistryException.class);
                // Meanwhile a sidecar (or an operator) writes another registration on the pod.
                server.editWhileStopped(c -> c.pods().inNamespace(NAMESPACE).withName(pod)
                        .patch(PatchContext.of(PatchType.JSON_MERGE), PodLayout.registerPatch(theirs)));
            } finally {
                server.resume();
            }
            await().atMost(BOUND.multipliedBy(2)).until(() -> !registry.reconciling());
        }
        assertThat(PodLayout.carries(server.pod(pod).get(), theirs)).isTrue();
        assertThat(observer.getService(service)).containsExactly(theirs);
    }

    @Test
    void badInputFailsBeforeAnyRequest() {
        String pod = pod("10.3.0.7");
        String service = TestInstances.serviceName("bad");
        try (KubernetesRegistry registry = registryOf(pod)) {
            int requests = server.requestCount();
            ServiceInstance good = instance(service, "ok", "10.3.0.7");
            assertThatThrownBy(() -> registry.register(good.toBuilder().name("n" + "x".repeat(63)).build()))
                    .isInstanceOf(InvalidInstanceException.class)
                    .hasMessageStartingWith("name must be a valid Kubernetes label value (at most 63 characters")
                    .hasMessageContaining("kratos-service-app");
            assertThatThrownBy(() -> registry.register(good.toBuilder().name(service + ":8080").build()))
                    .isInstanceOf(InvalidInstanceException.class).hasMessageStartingWith("name must be a valid Kubernetes");
            assertThatThrownBy(() -> registry.register(good.toBuilder().version("v1.0.0+meta").build()))
                    .isInstanceOf(InvalidInstanceException.class)
                    .hasMessageStartingWith("version must be a valid Kubernetes label value")
                    .hasMessageContaining("kratos-service-version").hasMessageContaining("v1.0.0+meta");
            assertThatThrownBy(() -> registry.register(good.toBuilder().version("-v1").build()))
                    .isInstanceOf(InvalidInstanceException.class).hasMessageStartingWith("version");
            assertThatThrownBy(() -> registry.register(good.toBuilder().id("a:b").build()))
                    .isInstanceOf(InvalidInstanceException.class).hasMessageStartingWith("id must be a valid Kubernetes");
            assertThat(server.requestCount()).as("requests for label-invalid instances").isEqualTo(requests);

            // Checked against the pod (one read, nothing written): the endpoints must be where discovery finds them.
            String version = server.pod(pod).get().getMetadata().getResourceVersion();
            assertThatThrownBy(() -> registry.register(ServiceInstance.builder().name(service).id("elsewhere")
                    .endpoint("grpc://10.9.9.9:9000").build()))
                    .isInstanceOf(InvalidInstanceException.class)
                    .hasMessageContaining("must be on the pod's IP 10.3.0.7");
            assertThatThrownBy(() -> registry.register(ServiceInstance.builder().name(service).id("undeclared")
                    .endpoint("grpc://10.3.0.7:9999").build()))
                    .isInstanceOf(InvalidInstanceException.class)
                    .hasMessageContaining("containerPort").hasMessageContaining("[8000, 9000]");
            assertThat(server.pod(pod).get().getMetadata().getResourceVersion()).isEqualTo(version);
            assertThat(observer.getService(service)).isEmpty();
        }
    }

    @Test
    void aMissingPodNameOrNamespaceIsAClearErrorBeforeAnyRequest() {
        ServiceInstance instance = instance(TestInstances.serviceName("nopod"), "x", "10.3.0.8");
        int requests = server.requestCount();
        try (KubernetesRegistry noPod = KubernetesRegistry.builder().config(server.config()).namespace(NAMESPACE)
                .environment(variable -> null).build()) {
            assertThatThrownBy(() -> noPod.register(instance))
                    .isInstanceOf(InvalidOptionException.class)
                    .hasMessageContaining("POD_NAME")
                    .satisfies(e -> assertThat(((InvalidOptionException) e).option()).isEqualTo("pod"));
        }
        try (KubernetesRegistry badName = KubernetesRegistry.builder().config(server.config()).namespace(NAMESPACE)
                .environment(variable -> variable.equals("HOSTNAME") ? "My_Laptop" : null).build()) {
            assertThatThrownBy(() -> badName.register(instance))
                    .isInstanceOf(InvalidOptionException.class)
                    .hasMessageContaining("'My_Laptop' (from the environment variable HOSTNAME) is not a valid pod name");
        }
        assertThatThrownBy(() -> KubernetesRegistry.builder().config(server.config())
                .serviceAccountNamespace(Path.of("target/no-such-file")).build())
                .isInstanceOf(InvalidOptionException.class)
                .hasMessageContaining("needs a namespace")
                .satisfies(e -> assertThat(((InvalidOptionException) e).option()).isEqualTo("namespace"));
        try (KubernetesRegistry discoveryOnly = KubernetesRegistry.builder().config(server.config())
                .allNamespaces(true).serviceAccountNamespace(Path.of("target/no-such-file")).podName("p").build()) {
            assertThatThrownBy(() -> discoveryOnly.register(instance))
                    .isInstanceOf(InvalidOptionException.class).hasMessageContaining("namespace");
        }
        assertThat(server.requestCount()).isEqualTo(requests);

        // A pod name that names no pod: one read, then a clear error.
        try (KubernetesRegistry wrongPod = KubernetesRegistry.builder().config(server.config()).namespace(NAMESPACE)
                .environment(variable -> variable.equals("POD_NAME") ? "no-such-pod" : null).build()) {
            assertThatThrownBy(() -> wrongPod.register(instance))
                    .isInstanceOf(InvalidOptionException.class)
                    .hasMessageContaining("pod " + NAMESPACE + "/no-such-pod (name from the environment variable "
                            + "POD_NAME) does not exist");
        }
    }

    @Test
    void theNamespaceAndPodNameComeFromTheServiceAccountAndTheEnvironment() throws Exception {
        String pod = pod("10.3.0.9");
        Path file = Path.of("target/sa-namespace");
        java.nio.file.Files.writeString(file, NAMESPACE + "\n");
        String service = TestInstances.serviceName("incluster");
        try (KubernetesRegistry registry = KubernetesRegistry.builder().config(server.config())
                .serviceAccountNamespace(file)
                .environment(variable -> Map.of("HOSTNAME", pod).get(variable)).build()) {
            registry.register(instance(service, "from-env", "10.3.0.9"));
            assertThat(PodLayout.registeredId(server.pod(pod).get())).isEqualTo("from-env");
        }
    }

    @Test
    void serviceModeIsReadOnly() {
        try (Registry services = KubernetesRegistry.builder().config(server.config()).namespace(NAMESPACE)
                .mode(KubernetesRegistry.Mode.SERVICE).podName("p").build()) {
            assertThatThrownBy(() -> services.register(instance("svc", "x", "10.3.0.10")))
                    .isInstanceOf(InvalidOptionException.class)
                    .hasMessageContaining("mode=service is read-only");
        }
    }

    /** Requests the service account may not make are a RegistryAccessDeniedException that says what to grant. */
    @Test
    void refusedRequestsSayWhatTheServiceAccountNeeds() throws Exception {
        String pod = pod("10.3.0.12");
        String service = TestInstances.serviceName("rbac");
        try (KubernetesRegistry registry = registryOf(pod)) {
            try (AutoCloseable denied = server.forbid("PATCH", "/api/v1/namespaces/" + NAMESPACE + "/pods/" + pod)) {
                assertThatThrownBy(() -> registry.register(instance(service, "x", "10.3.0.12")))
                        .isInstanceOf(io.roster.RegistryAccessDeniedException.class)
                        .hasMessageContaining("refused to register " + service + "/x (HTTP 403)")
                        .hasMessageContaining("README");
            }
            assertThat(registry.reconciling()).as("nothing to take back after a refused patch").isFalse();
            assertThat(PodLayout.registeredId(server.pod(pod).get())).isNull();
            try (AutoCloseable denied = server.forbid("GET", "/api/v1/namespaces/" + NAMESPACE + "/pods?")) {
                assertThatThrownBy(() -> registry.getService(service))
                        .isInstanceOf(io.roster.RegistryAccessDeniedException.class);
                assertThatThrownBy(() -> registry.watch(service))
                        .isInstanceOf(io.roster.RegistryAccessDeniedException.class)
                        .hasMessageContaining("refused to watch " + service);
                assertThatThrownBy(registry::services).isInstanceOf(io.roster.RegistryAccessDeniedException.class);
            }
            registry.register(instance(service, "x", "10.3.0.12")); // granted again
            assertThat(observer.getService(service)).extracting(ServiceInstance::id).containsExactly("x");
        }
    }

    /** A deregistration the API server could not take is finished when it is back, and never undone. */
    @Test
    void aDeregistrationDuringAnOutageIsFinishedWhenTheServerIsBack() {
        String pod = pod("10.3.0.11");
        String service = TestInstances.serviceName("outage");
        ServiceInstance instance = instance(service, "gone", "10.3.0.11");
        try (KubernetesRegistry registry = registryOf(pod)) {
            registry.register(instance);
            server.stop();
            try {
                assertThatThrownBy(() -> registry.deregister(instance)).isInstanceOf(io.roster.RegistryException.class);
            } finally {
                server.resume();
            }
            await().atMost(BOUND.multipliedBy(2)).until(() -> PodLayout.registeredId(server.pod(pod).get()) == null);
            await().atMost(BOUND).until(() -> !registry.reconciling());
            assertThat(observer.getService(service)).isEmpty();
        }
    }
}

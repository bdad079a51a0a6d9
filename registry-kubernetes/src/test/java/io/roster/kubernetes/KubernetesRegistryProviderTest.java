package io.roster.kubernetes;

import io.roster.InvalidOptionException;
import io.roster.Registries;
import io.roster.Registry;
import io.roster.ServiceInstance;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.util.HashMap;
import java.util.Map;

import static io.roster.kubernetes.KubernetesTestServer.NAMESPACE;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * {@code kubernetes:} URIs through {@link Registries#open}. The client's usual configuration points at the mock through
 * fabric8's system properties ({@code kubernetes.master}), as {@code KUBERNETES_MASTER} would outside a cluster.
 */
class KubernetesRegistryProviderTest {
    private static final String[] PROPERTIES = {"kubernetes.master", "kubernetes.auth.tryKubeConfig",
        "kubernetes.auth.tryServiceAccount", "kubernetes.namespace"};
    private static KubernetesTestServer server;
    private final Map<String, String> saved = new HashMap<>();

    @BeforeAll
    static void start() {
        server = KubernetesTestServer.shared();
    }


    @BeforeEach
    void pointTheUsualConfigurationAtTheMock() {
        for (String p : PROPERTIES) {
            saved.put(p, System.getProperty(p));
        }
        System.setProperty("kubernetes.master", "http://127.0.0.1:" + server.port());
        System.setProperty("kubernetes.auth.tryKubeConfig", "false");
        System.setProperty("kubernetes.auth.tryServiceAccount", "false");
        System.clearProperty("kubernetes.namespace");
    }

    @AfterEach
    void restore() {
        saved.forEach((p, v) -> {
            if (v == null) {
                System.clearProperty(p);
            } else {
                System.setProperty(p, v);
            }
        });
    }

    @Test
    void opensWithTheUsualConfiguration() {
        server.runPod("provider-1", "10.7.0.1", KubernetesTestServer.port("grpc", 9000));
        try (Registry registry = Registries.open("kubernetes://?namespace=" + NAMESPACE + "&pod=provider-1&timeout=3s");
             Registry slices = Registries.open("kubernetes:///?namespace=" + NAMESPACE + "&mode=service");
             Registry everywhere = Registries.open("kubernetes:///?allNamespaces=true")) {
            assertThat(registry).isInstanceOf(KubernetesRegistry.class)
                    .hasToString("KubernetesRegistry{kubernetes at http://127.0.0.1:" + server.port() + "/ namespace "
                            + NAMESPACE + "}");
            ServiceInstance instance = ServiceInstance.builder().name("via-uri").id("u")
                    .endpoint("grpc://10.7.0.1:9000").build();
            registry.register(instance);
            assertThat(registry.getService("via-uri")).containsExactly(instance);
            assertThat(everywhere.getService("via-uri")).containsExactly(instance);
            assertThat(slices.toString()).endsWith("namespace " + NAMESPACE + " (Services)}");
            assertThatThrownBy(() -> slices.register(instance)).isInstanceOf(InvalidOptionException.class);
        }
    }

    @Test
    void theNamespaceFallsBackToTheClientsConfiguration() {
        System.setProperty("kubernetes.namespace", NAMESPACE);
        try (Registry registry = Registries.open("kubernetes:///")) {
            assertThat(registry.toString()).contains("namespace " + NAMESPACE);
        }
    }

    @Test
    void badUrisAndOptionsFailNamingTheOption() {
        Map<String, String> bad = new HashMap<>();
        bad.put("kubernetes://10.0.0.1:6443?namespace=shop", "hosts");
        bad.put("kubernetes://user:secret@?namespace=shop", "hosts");
        bad.put("kubernetes:///shop", "path");
        bad.put("kubernetes://?namespace=shop&nameSpace=x", "nameSpace");
        bad.put("kubernetes://?namespace=Shop_1", "namespace");
        bad.put("kubernetes://?namespace=shop&mode=endpoints", "mode");
        bad.put("kubernetes://?namespace=shop&allNamespaces=maybe", "allNamespaces");
        bad.put("kubernetes://?namespace=shop&timeout=0s", "timeout");
        bad.put("kubernetes://?namespace=shop&pod=", "pod");
        bad.put("kubernetes:///", "namespace"); // no namespace anywhere
        bad.forEach((uri, option) -> assertThatThrownBy(() -> Registries.open(uri)).as(uri)
                .isInstanceOf(InvalidOptionException.class)
                .satisfies(e -> assertThat(((InvalidOptionException) e).option()).as(uri).isEqualTo(option))
                .satisfies(e -> assertThat(e.getMessage()).doesNotContain("secret")));
        assertThatThrownBy(() -> Registries.open("kubernetes://?namespace=shop&nameSpace=x"))
                .hasMessageContaining("unknown kubernetes option 'nameSpace'")
                .hasMessageContaining("allNamespaces, context, mode, namespace, pod, timeout");
    }
}

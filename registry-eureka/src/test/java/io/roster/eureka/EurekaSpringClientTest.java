package io.roster.eureka;

import io.roster.Registries;
import io.roster.Registry;
import io.roster.ServiceInstance;
import io.roster.testkit.FreePorts;
import io.roster.testkit.TestInstances;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.springframework.boot.WebApplicationType;
import org.springframework.boot.autoconfigure.EnableAutoConfiguration;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.cloud.client.discovery.DiscoveryClient;
import org.springframework.cloud.netflix.eureka.EurekaDiscoveryClient;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.annotation.Configuration;

import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Roster and a Spring Cloud Netflix Eureka client (the one behind {@code DiscoveryClient}, Spring Cloud
 * LoadBalancer and OpenFeign, same Spring Cloud release as the test server) on one server, both ways: the Spring
 * client dials what Roster registers, and Roster reads what the Spring client registers.
 */
@ExtendWith(SharedEurekaServer.class)
class EurekaSpringClientTest {
    private static final Duration BOUND = Duration.ofSeconds(20);
    private static final String SPRING_APP = TestInstances.serviceName("spring-client");
    private static final int SPRING_PORT = FreePorts.next();
    private static ConfigurableApplicationContext spring;

    @BeforeAll
    static void startSpringClient() {
        EurekaTestServer server = SharedEurekaServer.server();
        Map<String, Object> props = new HashMap<>();
        props.put("spring.application.name", SPRING_APP);
        props.put("spring.main.banner-mode", "off");
        props.put("spring.jmx.enabled", "false");
        props.put("eureka.client.service-url.defaultZone", server.url() + "/");
        props.put("eureka.client.registry-fetch-interval-seconds", "1");
        // A plain client bean rather than a refresh-scoped proxy, which a context without web or actuator (one
        // that never refreshes) fails to unwrap when registering.
        props.put("eureka.client.refresh.enable", "false");
        // Spring's own HTTP transport (RestTemplate/RestClient), as a Spring Boot client without the server's
        // Jersey on its class path uses.
        props.put("eureka.client.jersey.enabled", "false");
        props.put("eureka.instance.lease-renewal-interval-in-seconds", "1");
        // A non-web application announces the port it is told, at the address it is told.
        props.put("eureka.instance.non-secure-port", SPRING_PORT);
        props.put("eureka.instance.prefer-ip-address", "true");
        props.put("eureka.instance.ip-address", "127.0.0.1");
        props.put("eureka.instance.instance-id", SPRING_APP + "-1");
        props.put("eureka.instance.metadata-map.zone", "zone-s");
        spring = new SpringApplicationBuilder(SpringClient.class)
                .web(WebApplicationType.NONE)
                .properties(props)
                .registerShutdownHook(false)
                .logStartupInfo(false)
                .run();
    }

    @AfterAll
    static void stopSpringClient() {
        if (spring != null) {
            spring.close();
        }
    }

    /** Kratos's layout put the app name into hostName: Spring dialled http://GREETER:9000 and failed. */
    @Test
    void springDiscoveryClientGetsAHostAndPortItCanConnectTo() throws IOException {
        DiscoveryClient discovery = spring.getBean(EurekaDiscoveryClient.class);
        String service = TestInstances.serviceName("dialled-by-spring");
        try (ServerSocket listening = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
             Registry registry = open()) {
            registry.register(TestInstances.instance(service, "r-1").endpoints(List.of())
                    .endpoint("http://127.0.0.1:" + listening.getLocalPort()).build());

            await().atMost(BOUND).until(() -> !discovery.getInstances(service).isEmpty());
            org.springframework.cloud.client.ServiceInstance found = discovery.getInstances(service).get(0);

            assertThat(found.getPort()).isEqualTo(listening.getLocalPort());
            assertThat(found.getUri()).hasToString("http://127.0.0.1:" + listening.getLocalPort());
            try (Socket socket = new Socket()) {
                socket.connect(new InetSocketAddress(found.getHost(), found.getPort()), 5000);
                listening.setSoTimeout(5000);
                listening.accept().close();
            }
            assertThat(discovery.getServices()).contains(service);
        }
    }

    @Test
    void springRegisteredInstanceIsReadByRoster() {
        try (Registry registry = open()) {
            await().atMost(BOUND).until(() -> !registry.getService(SPRING_APP).isEmpty());

            List<ServiceInstance> found = registry.getService(SPRING_APP);

            assertThat(found).hasSize(1);
            ServiceInstance instance = found.get(0);
            assertThat(instance.id()).isEqualTo(SPRING_APP + "-1");
            assertThat(instance.name()).isEqualTo(SPRING_APP);
            assertThat(instance.endpoints()).extracting(Object::toString)
                    .containsExactly("http://127.0.0.1:" + SPRING_PORT);
            assertThat(instance.metadata()).containsEntry("zone", "zone-s");
            assertThat(registry.services()).contains(SPRING_APP);
        }
    }

    private static Registry open() {
        return Registries.open("eureka://127.0.0.1:" + SharedEurekaServer.server().port()
                + "/eureka?renew=1s&lease=3s&refresh=500ms");
    }

    /** A Spring Boot application with Spring Cloud's Eureka client, as auto-configuration sets it up. */
    @Configuration(proxyBeanMethods = false)
    @EnableAutoConfiguration
    static class SpringClient {
    }
}

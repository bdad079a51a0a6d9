package io.roster.nacos;

import com.alibaba.nacos.api.PropertyKeyConst;
import com.alibaba.nacos.api.naming.NamingFactory;
import com.alibaba.nacos.api.naming.NamingService;
import io.roster.Registries;
import io.roster.Registry;
import io.roster.RegistryAccessDeniedException;
import io.roster.ServiceInstance;
import io.roster.testkit.TestInstances;
import io.roster.testkit.ThreadLeaks;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.Properties;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Nacos auth: nacos-client logs in over HTTP and sends the token with each gRPC request. */
class NacosAuthTest {
    private static final String SECRET = "s3cr3t-Pa55";
    private static NacosStandIn server;

    @BeforeAll
    static void startServer() {
        server = NacosStandIn.withCredentials("roster", SECRET);
    }

    @AfterAll
    static void stopServer() {
        server.close();
    }

    @Test
    void rightCredentialsWork() {
        String service = TestInstances.serviceName("auth");
        ServiceInstance instance = TestInstances.of(service, "a");
        try (Registry registry = Registries.open("nacos://roster:" + SECRET + "@" + server.address());
             Registry reader = Registries.open("nacos://" + server.address() + "?username=roster&password="
                     + SECRET)) {
            registry.register(instance);
            assertThat(reader.getService(service)).containsExactly(instance);
            assertThat(registry.toString()).doesNotContain(SECRET);
        }
        assertThat(server.requestTypes()).contains("HTTP /nacos/v3/auth/user/login");
    }

    @Test
    void wrongPasswordFailsAtOpenWithoutShowingIt() {
        String wrong = "not-the-" + SECRET;
        assertThatThrownBy(() -> Registries.open("nacos://" + server.address() + "?username=roster&password="
                + wrong))
                .isInstanceOf(RegistryAccessDeniedException.class)
                .hasMessageContaining("check the username and password")
                .hasMessageNotContaining(wrong);
    }

    @Test
    void missingCredentialsFailOnFirstUse() {
        try (Registry anonymous = Registries.open("nacos://" + server.address())) {
            String service = TestInstances.serviceName("anonymous");
            assertThatThrownBy(() -> anonymous.register(TestInstances.of(service, "a")))
                    .isInstanceOf(RegistryAccessDeniedException.class)
                    .hasMessageContaining("register " + service + "/a refused by nacos at " + server.address());
            assertThatThrownBy(() -> anonymous.getService(service)).isInstanceOf(RegistryAccessDeniedException.class);
            assertThatThrownBy(() -> anonymous.watch(service)).isInstanceOf(RegistryAccessDeniedException.class);
        }
    }

    @Test
    void noThreadOutlivesAnAuthenticatedRegistry() throws InterruptedException {
        String uri = "nacos://roster:" + SECRET + "@" + server.address();
        NacosContractTest.NacosFixture.startJvmWideClientThreads(() -> Registries.open(uri));
        ThreadLeaks.Snapshot before = ThreadLeaks.snapshot();
        try (Registry registry = Registries.open(uri)) {
            registry.register(TestInstances.of(TestInstances.serviceName("threads"), "a"));
        }
        before.assertNoNewThreads(Duration.ofSeconds(15), NacosStandIn::isStandInThread);
    }

    @Test
    void givenNamingServiceIsUsedAndLeftOpen() throws Exception {
        Properties properties = new Properties();
        properties.setProperty(PropertyKeyConst.SERVER_ADDR, server.address());
        properties.setProperty(PropertyKeyConst.USERNAME, "roster");
        properties.setProperty(PropertyKeyConst.PASSWORD, SECRET);
        NamingService naming = NamingFactory.createNamingService(properties);
        try {
            String service = TestInstances.serviceName("given");
            ServiceInstance instance = TestInstances.of(service, "a");
            try (Registry registry = NacosRegistry.builder().namingService(naming).build()) {
                registry.register(instance);
                assertThat(registry.getService(service)).containsExactly(instance);
            }
            // close() deregistered, and the client still works.
            assertThat(naming.getServerStatus()).isEqualTo("UP");
            assertThat(naming.getAllInstances(service + ".grpc", "DEFAULT_GROUP", false)).isEmpty();
        } finally {
            naming.shutDown();
        }
    }
}

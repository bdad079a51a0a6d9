package io.roster.zookeeper;

import io.roster.testkit.RegistryContract;
import io.roster.testkit.RegistryFixture;
import org.apache.curator.test.TestingServer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/** The contract suite against a real ZooKeeper server, all tests sharing it. */
class ZooKeeperContractTest extends RegistryContract {
    private static TestingServer server;

    @BeforeAll
    static void startServer() throws Exception {
        server = ZooKeeperServers.standalone();
    }

    @AfterAll
    static void stopServer() throws Exception {
        server.close();
    }

    @Override
    protected RegistryFixture fixture() {
        return new ZooKeeperFixture(server.getConnectString(), "/roster-contract");
    }
}

package io.roster.zookeeper;

import io.roster.testkit.NullArguments;
import org.junit.jupiter.api.Test;

class ZooKeeperBuilderNullsTest {

    @Test
    void everyNullBuilderArgumentIsRefusedNamingTheOption() {
        NullArguments.assertRefusedByEverySetter(ZooKeeperRegistry::builder);
    }
}

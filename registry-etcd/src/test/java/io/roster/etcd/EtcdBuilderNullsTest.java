package io.roster.etcd;

import io.roster.testkit.NullArguments;
import org.junit.jupiter.api.Test;

class EtcdBuilderNullsTest {

    @Test
    void everyNullBuilderArgumentIsRefusedNamingTheOption() {
        NullArguments.assertRefusedByEverySetter(EtcdRegistry::builder);
    }
}

package io.roster.consul;

import io.roster.testkit.NullArguments;
import org.junit.jupiter.api.Test;

class ConsulBuilderNullsTest {

    @Test
    void everyNullBuilderArgumentIsRefusedNamingTheOption() {
        NullArguments.assertRefusedByEverySetter(ConsulRegistry::builder);
    }
}

package io.roster.nacos;

import io.roster.testkit.NullArguments;
import org.junit.jupiter.api.Test;

class NacosBuilderNullsTest {

    @Test
    void everyNullBuilderArgumentIsRefusedNamingTheOption() {
        NullArguments.assertRefusedByEverySetter(NacosRegistry::builder);
    }
}

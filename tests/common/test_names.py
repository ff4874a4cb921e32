"""The shared names: the channel key and the shard rule, one home each."""

import pytest

from rnnviz.common.names import channel_key, parse_channel_key


def test_channel_key_round_trips_and_splits_at_the_last_colon():
    assert channel_key("layer3.1", 17) == "layer3.1:17"
    assert parse_channel_key("layer3.1:17") == ("layer3.1", 17)
    assert parse_channel_key(channel_key("features.0", 0)) == ("features.0", 0)
    assert parse_channel_key("a:b:5") == ("a:b", 5)


@pytest.mark.parametrize("bad", ["layer3", "layer3:", ":5", "layer3:x", "layer3:-1"])
def test_a_malformed_channel_key_is_refused(bad):
    with pytest.raises(ValueError):
        parse_channel_key(bad)

"""The local Kafka's cluster id must be one its storage tool accepts as an argument value."""

import base64

from deploy.local.kafka import new_cluster_id


def test_cluster_ids_never_start_with_a_dash_and_decode_to_16_bytes() -> None:
    # One id in 64 from plain base64 starts with "-", which the storage tool read as a
    # missing option value and `make up` failed; 2000 draws would hit that about 31 times.
    ids = [new_cluster_id() for _ in range(2000)]
    assert not [i for i in ids if i.startswith("-")]
    assert all(len(base64.urlsafe_b64decode(i + "==")) == 16 for i in ids)
    assert len(set(ids)) == len(ids)

"""Review of api = overpass against a dense area: what Overpass's id
order does to "nearest first"."""
from fake_overpass import distance, elements_around
from test_places_overpass import LAT, LON, fake, start, whatsat  # noqa: F401


def test_dense_area_answers_the_nearest(start, fake):  # noqa: F811
    """1,000 elements within 1 km (a city centre has more): the 3
    nearest named ones are the answer, though each ring gives only its
    50 lowest ids (the inner rings are complete)."""
    fake.set_mode("ok", count=1000)
    h = start()
    _, j = whatsat(h.port("A"), b"c", b"1", b"3")
    assert j["status"] == "OK"

    def pos(e):
        c = e.get("center", e)
        return c["lat"], c["lon"]
    named = [e for e in elements_around(LAT, LON, 1000, 1000)
             if "name" in e["tags"]]
    named.sort(key=lambda e: distance(LAT, LON, *pos(e)))
    want = ["osm:%s/%d" % (e["type"], e["id"]) for e in named[:3]]
    assert [r["place_id"] for r in j["results"]] == want

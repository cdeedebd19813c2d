"""The operator screen under a burst: 200 simultaneous requests for a 100-photo claim all get
their page (the listen backlog was 5 and every request rendered the checklist with two queries
per photo, so most timed out). How fast is measured by `claim-edge bench web`, not here."""

import http.client
import io
from urllib.parse import urlsplit

from edge.web.bench import CLAIM, file_claim, one_round
from edge.web.browser import ServerProcess

TOKEN = "load-test-token-1234"


def test_200_simultaneous_requests_for_a_100_photo_claim_all_answer(tmp_path, profile_path):
    store = tmp_path / "store" / "store.db"
    store.parent.mkdir(parents=True, exist_ok=True)
    file_claim(str(profile_path), store, 100, out=io.StringIO(), stages=[])
    with ServerProcess("--profile", str(profile_path), "--store", str(store),
                       "--token", TOKEN) as srv:
        results = one_round(srv.url, TOKEN, 200, timeout=30)
        outcomes = [o for o, _ in results]
        assert outcomes.count("200") == 200, {o: outcomes.count(o) for o in set(outcomes)}
        u = urlsplit(srv.url)
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        c.request("GET", f"/claims/{CLAIM}")   # the token is still required
        r = c.getresponse()
        assert r.status == 401 and b"data-photo" not in r.read()
        c.close()
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        c.request("GET", f"/claims/{CLAIM}", headers={"Authorization": f"Bearer {TOKEN}"})
        page = c.getresponse().read().decode()
        c.close()
        assert page.count('class="thumb"') == 100

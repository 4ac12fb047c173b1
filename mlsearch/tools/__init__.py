"""Tools beside the research core: throughput benchmark (bench), one short GPU session (gpucheck),
the offline multilingual-e5-small conversion (e5small), environment.yml from the pins (pins) and
notebooks prepared for tests (nbtest) and candidate params files screened on validation (screen).
The method does not import them."""

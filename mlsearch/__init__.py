"""mlsearch: multilingual multitask product search (Ahuja et al., WSDM 2020), reproduced."""

from mlsearch.config import RunConfig, load_config
from mlsearch.errors import ConfigError, DataError, MlsearchError

__version__ = "0.1.0"

__all__ = ["ConfigError", "DataError", "MlsearchError", "RunConfig", "load_config", "__version__"]

"""Ledger formats (family `ledger`, table `ledger_transfers`).

One module per source: `etherscan` (normal, ERC-20 and internal transaction CSVs),
`bitcoin` (esplora / mempool.space transaction JSON), `pool` (P2Pool payout CSVs) and
`exchange` (Binance account statements). `common` holds the exact decimal arithmetic.
"""

from forensics.loaders.ledger.bitcoin import EsploraTransactions
from forensics.loaders.ledger.etherscan import EtherscanErc20, EtherscanInternal, EtherscanTxlist
from forensics.loaders.ledger.exchange import BinanceStatement
from forensics.loaders.ledger.pool import P2PoolPayouts

__all__ = ["BinanceStatement", "EsploraTransactions", "EtherscanErc20", "EtherscanInternal",
           "EtherscanTxlist", "P2PoolPayouts"]

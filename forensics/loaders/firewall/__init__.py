"""Firewall and flow logs into `firewall_events`, one module per format group.

Every format shares `common` (reading, validation, the one vocabulary) and `timeparse`
(syslog headers, year and zone assumptions).
"""

from forensics.loaders.firewall.aws import AwsVpcFlow
from forensics.loaders.firewall.azure import AzureNsgFlow
from forensics.loaders.firewall.filterlog import PfFilterlog
from forensics.loaders.firewall.gcp import GcpFirewall, GcpVpcFlow
from forensics.loaders.firewall.mapping import FirewallMapping
from forensics.loaders.firewall.netfilter import Netfilter
from forensics.loaders.firewall.panos import PanOs

__all__ = ["Netfilter", "PfFilterlog", "AwsVpcFlow", "GcpVpcFlow", "GcpFirewall",
           "AzureNsgFlow", "PanOs", "FirewallMapping"]

terraform {
  # check blocks (deprecation warnings) need 1.5; `terraform test` with mock providers needs 1.7.
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 5.79 is the oldest release with every argument and value the module uses (the newest being
      # the event source mapping's metrics_config and provisioned_poller_config; python3.13 needs
      # 5.76); README.md, "Providers and versions", lists each one and where it came from. 6.x has
      # no breaking change for any resource here.
      version = ">= 5.79, < 7.0"
    }
  }
}

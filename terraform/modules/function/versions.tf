terraform {
  # The calling module holds the versions (../../versions.tf).
  required_providers {
    aws = {
      source = "hashicorp/aws"
    }
  }
}

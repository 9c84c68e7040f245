terraform {
  # optional() object attributes with defaults need 1.3; 1.5 is the oldest release we support.
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 5.x for platform repos that have not moved yet, 6.x for the rest: the module only uses
      # arguments that exist, undeprecated, in both.
      version = ">= 5.70, < 7.0"
    }
  }
}

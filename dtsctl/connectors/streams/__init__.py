"""Stream targets a subscription task delivers its records to (`deliver_to`)."""

"""What crosses a process boundary, in one place, imported by the gateway and the services alike:
every request model with its one validator (requests), the errors and their HTTP statuses (errors),
and the batch event with its wire format (events, wire). Nothing here imports a service."""

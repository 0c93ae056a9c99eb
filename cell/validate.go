package cell

import (
	"fmt"
	"unicode/utf8"

	pb "github.com/cellpay/cellpay/api/cellpay/v1"
)

// Limits of identifiers. Account ids and keys use [A-Za-z0-9_.:-]; '/' is
// excluded because it separates the parts of state keys.
const (
	accountIDBytesMax      = 64
	idempotencyKeyBytesMax = 128
	externalRefBytesMax    = 256
)

// InputError is a request that can never succeed as sent: it names the
// field and what is wrong with it.
type InputError struct {
	Field  string
	Reason string
}

func (e *InputError) Error() string { return fmt.Sprintf("cell: invalid %s: %s", e.Field, e.Reason) }

func validID(field, v string, maxBytes int) error {
	if v == "" {
		return &InputError{Field: field, Reason: "is required"}
	}
	if len(v) > maxBytes {
		return &InputError{Field: field, Reason: fmt.Sprintf("is %d bytes, more than %d", len(v), maxBytes)}
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.' || c == ':'
		if !ok {
			return &InputError{Field: field, Reason: fmt.Sprintf("%q has byte %#x at %d; allowed are letters, digits and _ - . :", truncate(v), c, i)}
		}
	}
	return nil
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

func validCurrency(field, c string) error {
	if !iso4217[c] {
		return &InputError{Field: field, Reason: fmt.Sprintf("%q is not an ISO 4217 currency code", truncate(c))}
	}
	return nil
}

func validText(field, v string, maxBytes int) error {
	if len(v) > maxBytes {
		return &InputError{Field: field, Reason: fmt.Sprintf("is %d bytes, more than %d", len(v), maxBytes)}
	}
	if !utf8.ValidString(v) {
		return &InputError{Field: field, Reason: "is not valid UTF-8"}
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] == 0x7f {
			return &InputError{Field: field, Reason: fmt.Sprintf("has control byte %#x at %d", v[i], i)}
		}
	}
	return nil
}

// ValidateCreateAccount checks a CreateAccount command's fields.
func ValidateCreateAccount(c *pb.CreateAccount) error {
	if c == nil {
		return &InputError{Field: "command", Reason: "is required"}
	}
	if err := validID("idempotency_key", c.GetIdempotencyKey(), idempotencyKeyBytesMax); err != nil {
		return err
	}
	if err := validID("account_id", c.GetAccountId(), accountIDBytesMax); err != nil {
		return err
	}
	return validCurrency("currency", c.GetCurrency())
}

// ValidateDeposit checks a Deposit command's fields. A non-positive amount
// is a business error (AMOUNT_NOT_POSITIVE), reported by apply.
func ValidateDeposit(c *pb.Deposit) error {
	if c == nil {
		return &InputError{Field: "command", Reason: "is required"}
	}
	if err := validID("idempotency_key", c.GetIdempotencyKey(), idempotencyKeyBytesMax); err != nil {
		return err
	}
	if err := validID("account_id", c.GetAccountId(), accountIDBytesMax); err != nil {
		return err
	}
	if err := validCurrency("currency", c.GetCurrency()); err != nil {
		return err
	}
	return validText("external_ref", c.GetExternalRef(), externalRefBytesMax)
}

// ValidateTransfer checks a Transfer command's fields.
func ValidateTransfer(c *pb.Transfer) error {
	if c == nil {
		return &InputError{Field: "command", Reason: "is required"}
	}
	if err := validID("transfer_id", c.GetTransferId(), idempotencyKeyBytesMax); err != nil {
		return err
	}
	if err := validID("from_account_id", c.GetFromAccountId(), accountIDBytesMax); err != nil {
		return err
	}
	if err := validID("to_account_id", c.GetToAccountId(), accountIDBytesMax); err != nil {
		return err
	}
	return validCurrency("currency", c.GetCurrency())
}

func validateCreditIn(c *pb.CreditIn) error {
	if c == nil {
		return &InputError{Field: "command", Reason: "is required"}
	}
	if err := validID("transfer_id", c.GetTransferId(), idempotencyKeyBytesMax); err != nil {
		return err
	}
	if err := validID("from_account_id", c.GetFromAccountId(), accountIDBytesMax); err != nil {
		return err
	}
	if err := validID("to_account_id", c.GetToAccountId(), accountIDBytesMax); err != nil {
		return err
	}
	if c.GetFromCellId() == 0 {
		return &InputError{Field: "from_cell_id", Reason: "is required (a credit's key is scoped to the payer's cell)"}
	}
	return validCurrency("currency", c.GetCurrency())
}

// providerNameBytesMax bounds a provider's name.
const providerNameBytesMax = 64

// ValidatePayout checks a Payout request's fields; the provider may be
// empty (the service picks the first configured one).
func ValidatePayout(c *pb.Payout) error {
	if c == nil {
		return &InputError{Field: "command", Reason: "is required"}
	}
	if err := validID("payout_id", c.GetPayoutId(), idempotencyKeyBytesMax); err != nil {
		return err
	}
	if err := validID("account_id", c.GetAccountId(), accountIDBytesMax); err != nil {
		return err
	}
	if c.GetProvider() != "" {
		if err := validID("provider", c.GetProvider(), providerNameBytesMax); err != nil {
			return err
		}
	}
	return validCurrency("currency", c.GetCurrency())
}

// validateCommand checks a whole command as apply receives it.
func validateCommand(cmd *pb.Command) error {
	switch b := cmd.GetBody().(type) {
	case *pb.Command_CreateAccount:
		return ValidateCreateAccount(b.CreateAccount)
	case *pb.Command_Deposit:
		return ValidateDeposit(b.Deposit)
	case *pb.Command_Transfer:
		return ValidateTransfer(b.Transfer)
	case *pb.Command_CreditIn:
		return validateCreditIn(b.CreditIn)
	case *pb.Command_Payout:
		if err := ValidatePayout(b.Payout); err != nil {
			return err
		}
		return validID("provider", b.Payout.GetProvider(), providerNameBytesMax)
	case *pb.Command_PayoutOutcome:
		if b.PayoutOutcome == nil {
			return &InputError{Field: "command", Reason: "is required"}
		}
		if err := validID("payout_id", b.PayoutOutcome.GetPayoutId(), idempotencyKeyBytesMax); err != nil {
			return err
		}
		if err := validID("account_id", b.PayoutOutcome.GetAccountId(), accountIDBytesMax); err != nil {
			return err
		}
		return validID("provider", b.PayoutOutcome.GetProvider(), providerNameBytesMax)
	case *pb.Command_PayoutAttempt:
		if b.PayoutAttempt == nil {
			return &InputError{Field: "command", Reason: "is required"}
		}
		if err := validID("payout_id", b.PayoutAttempt.GetPayoutId(), idempotencyKeyBytesMax); err != nil {
			return err
		}
		if err := validID("account_id", b.PayoutAttempt.GetAccountId(), accountIDBytesMax); err != nil {
			return err
		}
		return validID("provider", b.PayoutAttempt.GetProvider(), providerNameBytesMax)
	case *pb.Command_ExpireKeys:
		if b.ExpireKeys == nil {
			return &InputError{Field: "command", Reason: "is required"}
		}
		return nil
	case *pb.Command_OutboxDelivered:
		if b.OutboxDelivered == nil {
			return &InputError{Field: "command", Reason: "is required"}
		}
		if err := validID("transfer_id", b.OutboxDelivered.GetTransferId(), idempotencyKeyBytesMax); err != nil {
			return err
		}
		return validID("from_account_id", b.OutboxDelivered.GetFromAccountId(), accountIDBytesMax)
	default:
		return &InputError{Field: "command.body", Reason: "is missing or of an unknown kind"}
	}
}

// ValidateAccountID checks an account id given in field.
func ValidateAccountID(field, id string) error { return validID(field, id, accountIDBytesMax) }

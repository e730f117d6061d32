-- A copy of the database never talks to the real providers with our secrets.
UPDATE dunning_channel
   SET wa_access_token = NULL,
       wa_app_secret = NULL,
       wa_verify_token = NULL,
       sms_twilio_auth_token = NULL,
       active = (channel_type = 'sandbox');

-- Nor charges a customer's saved payment method.
UPDATE ir_cron
   SET active = FALSE
 WHERE id IN (SELECT res_id FROM ir_model_data
               WHERE module = 'friendly_dunning' AND name = 'ir_cron_dunning_autopay');
